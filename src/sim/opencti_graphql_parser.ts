/**
 * A light GraphQL operation parser for the OpenCTI simulator: operations, fields with aliases,
 * arguments (variables and literals), nested selections, named fragments (`fragment F on T`,
 * `...F`) and inline fragments (`... on T { }`), as real clients such as pycti send them.
 * Fragments are flattened: each field they select carries the fragment's type condition (`on`).
 * Directives are refused with a clear message rather than half-supported.
 */

/** A literal or variable in an operation. */
export type ValueNode =
  | { kind: "variable"; name: string }
  | { kind: "scalar"; value: string | number | boolean | null }
  | { kind: "enum"; value: string }
  | { kind: "list"; values: ValueNode[] }
  | { kind: "object"; fields: Map<string, ValueNode> };

/** One selected field. */
export interface FieldNode {
  /** The response key (alias, else name). */
  key: string;
  /** The schema field name. */
  name: string;
  /** Arguments by name. */
  args: Map<string, ValueNode>;
  /** Sub-selections, undefined for a leaf. */
  selections: FieldNode[] | undefined;
  /** The type condition of the fragment this field was selected in, if any. */
  on?: string;
  /** A fragment spread still to expand (internal to the parser). */
  spread?: string;
}

/** A parsed operation. */
export interface OperationNode {
  /** `query` or `mutation` (`subscription` is refused). */
  type: "query" | "mutation";
  /** The operation name, if any. */
  name: string | undefined;
  /** Declared variables and their default values. */
  variables: Map<string, ValueNode | undefined>;
  /** Top-level fields. */
  selections: FieldNode[];
}

/** The operation text cannot be parsed (rendered as `GRAPHQL_PARSE_FAILED`). */
export class GraphqlSyntaxError extends Error {
  /** The error's name. */
  override name = "GraphqlSyntaxError";
}

interface Token {
  kind: "punct" | "name" | "string" | "number";
  value: string;
}

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < source.length) {
    const ch = source[i]!;
    if (/[\s,\uFEFF]/.test(ch)) {
      i++;
    } else if (ch === "#") {
      while (i < source.length && source[i] !== "\n" && source[i] !== "\r") i++;
    } else if (source.startsWith("...", i)) {
      tokens.push({ kind: "punct", value: "..." });
      i += 3;
    } else if ("{}()[]:$!=@|&".includes(ch)) {
      tokens.push({ kind: "punct", value: ch });
      i++;
    } else if (/[A-Za-z_]/.test(ch)) {
      const match = /^[A-Za-z_][A-Za-z0-9_]*/.exec(source.slice(i))!;
      tokens.push({ kind: "name", value: match[0] });
      i += match[0].length;
    } else if (/[-0-9]/.test(ch)) {
      const match = /^-?\d+(\.\d+)?([eE][+-]?\d+)?/.exec(source.slice(i));
      if (!match) throw new GraphqlSyntaxError(`Syntax Error: Unexpected character "${ch}".`);
      tokens.push({ kind: "number", value: match[0] });
      i += match[0].length;
    } else if (source.startsWith('"""', i)) {
      const end = source.indexOf('"""', i + 3);
      if (end < 0) throw new GraphqlSyntaxError("Syntax Error: Unterminated string.");
      tokens.push({ kind: "string", value: source.slice(i + 3, end) });
      i = end + 3;
    } else if (ch === '"') {
      let j = i + 1;
      let raw = "";
      while (j < source.length && source[j] !== '"') {
        if (source[j] === "\\") {
          raw += source.slice(j, j + 2);
          j += 2;
        } else {
          raw += source[j];
          j++;
        }
        if (source[j - 1] === "\n") {
          throw new GraphqlSyntaxError("Syntax Error: Unterminated string.");
        }
      }
      if (j >= source.length) throw new GraphqlSyntaxError("Syntax Error: Unterminated string.");
      let value: string;
      try {
        value = JSON.parse(`"${raw}"`) as string;
      } catch {
        throw new GraphqlSyntaxError("Syntax Error: Invalid string escape.");
      }
      tokens.push({ kind: "string", value });
      i = j + 1;
    } else {
      throw new GraphqlSyntaxError(`Syntax Error: Unexpected character "${ch}".`);
    }
  }
  return tokens;
}

class Parser {
  #tokens: Token[];
  #pos = 0;
  /** Named fragments: type condition and selections (spreads not yet expanded). */
  readonly fragments = new Map<string, { on: string; selections: FieldNode[] }>();

  constructor(tokens: Token[]) {
    this.#tokens = tokens;
  }

  get done(): boolean {
    return this.#pos >= this.#tokens.length;
  }

  peekPunct(value: string): boolean {
    const token = this.#tokens[this.#pos];
    return token?.kind === "punct" && token.value === value;
  }

  next(): Token {
    const token = this.#tokens[this.#pos++];
    if (!token) throw new GraphqlSyntaxError("Syntax Error: Unexpected <EOF>.");
    return token;
  }

  expectPunct(value: string): void {
    const token = this.next();
    if (token.kind !== "punct" || token.value !== value) {
      throw new GraphqlSyntaxError(`Syntax Error: Expected "${value}", found "${token.value}".`);
    }
  }

  name(): string {
    const token = this.next();
    if (token.kind !== "name") {
      throw new GraphqlSyntaxError(`Syntax Error: Expected Name, found "${token.value}".`);
    }
    return token.value;
  }

  operation(): OperationNode | undefined {
    let type: "query" | "mutation" = "query";
    let name: string | undefined;
    const variables = new Map<string, ValueNode | undefined>();
    if (!this.peekPunct("{")) {
      const keyword = this.name();
      if (keyword === "fragment") {
        const fragment = this.name();
        if (this.name() !== "on") {
          throw new GraphqlSyntaxError(`Syntax Error: Expected "on" after fragment ${fragment}.`);
        }
        const on = this.name();
        this.refuseDirectives();
        if (this.fragments.has(fragment)) {
          throw new GraphqlSyntaxError(`There can be only one fragment named "${fragment}".`);
        }
        this.fragments.set(fragment, { on, selections: this.selectionSet() });
        return undefined;
      }
      if (keyword === "subscription") {
        throw new GraphqlSyntaxError("The simulator does not support subscriptions");
      }
      if (keyword !== "query" && keyword !== "mutation") {
        throw new GraphqlSyntaxError(`Syntax Error: Unexpected Name "${keyword}".`);
      }
      type = keyword;
      if (this.#tokens[this.#pos]?.kind === "name") name = this.name();
      if (this.peekPunct("(")) {
        this.next();
        while (!this.peekPunct(")")) {
          this.expectPunct("$");
          const variable = this.name();
          this.expectPunct(":");
          this.typeRef();
          let defaultValue: ValueNode | undefined;
          if (this.peekPunct("=")) {
            this.next();
            defaultValue = this.value(true);
          }
          variables.set(variable, defaultValue);
        }
        this.next();
      }
      this.refuseDirectives();
    }
    return { type, name, variables, selections: this.selectionSet() };
  }

  typeRef(): void {
    if (this.peekPunct("[")) {
      this.next();
      this.typeRef();
      this.expectPunct("]");
    } else {
      this.name();
    }
    if (this.peekPunct("!")) this.next();
  }

  refuseDirectives(): void {
    if (this.peekPunct("@")) {
      throw new GraphqlSyntaxError("The simulator does not support directives");
    }
  }

  selectionSet(): FieldNode[] {
    this.expectPunct("{");
    const fields: FieldNode[] = [];
    while (!this.peekPunct("}")) {
      if (this.peekPunct("...")) {
        this.next();
        const token = this.next();
        if (token.kind === "name" && token.value === "on") {
          const on = this.name();
          this.refuseDirectives();
          // Nested conditions: the innermost (most specific in practice) applies.
          for (const field of this.selectionSet()) fields.push({ ...field, on: field.on ?? on });
        } else if (token.kind === "punct" && token.value === "{") {
          this.#pos -= 1;
          fields.push(...this.selectionSet());
        } else if (token.kind === "name") {
          this.refuseDirectives();
          fields.push({
            key: "",
            name: "",
            args: new Map(),
            selections: undefined,
            spread: token.value,
          });
        } else {
          throw new GraphqlSyntaxError(`Syntax Error: Unexpected "${token.value}".`);
        }
        continue;
      }
      let name = this.name();
      const key = name;
      if (this.peekPunct(":")) {
        this.next();
        name = this.name();
      }
      const args = new Map<string, ValueNode>();
      if (this.peekPunct("(")) {
        this.next();
        while (!this.peekPunct(")")) {
          const arg = this.name();
          this.expectPunct(":");
          args.set(arg, this.value(false));
        }
        this.next();
      }
      this.refuseDirectives();
      const selections = this.peekPunct("{") ? this.selectionSet() : undefined;
      fields.push({ key, name, args, selections });
    }
    this.next();
    if (fields.length === 0) {
      throw new GraphqlSyntaxError('Syntax Error: Expected Name, found "}".');
    }
    return fields;
  }

  value(constant: boolean): ValueNode {
    const token = this.next();
    if (token.kind === "punct") {
      if (token.value === "$" && !constant) return { kind: "variable", name: this.name() };
      if (token.value === "[") {
        const values: ValueNode[] = [];
        while (!this.peekPunct("]")) values.push(this.value(constant));
        this.next();
        return { kind: "list", values };
      }
      if (token.value === "{") {
        const fields = new Map<string, ValueNode>();
        while (!this.peekPunct("}")) {
          const field = this.name();
          this.expectPunct(":");
          fields.set(field, this.value(constant));
        }
        this.next();
        return { kind: "object", fields };
      }
      throw new GraphqlSyntaxError(`Syntax Error: Unexpected "${token.value}".`);
    }
    if (token.kind === "string") return { kind: "scalar", value: token.value };
    if (token.kind === "number") return { kind: "scalar", value: Number(token.value) };
    if (token.value === "true" || token.value === "false") {
      return { kind: "scalar", value: token.value === "true" };
    }
    if (token.value === "null") return { kind: "scalar", value: null };
    return { kind: "enum", value: token.value };
  }
}

/** Parses an operation document; picks `operationName` when several operations are given. */
export function parseOperation(source: string, operationName?: string): OperationNode {
  const parser = new Parser(tokenize(source));
  const operations: OperationNode[] = [];
  while (!parser.done) {
    const operation = parser.operation();
    if (operation) operations.push(operation);
  }
  if (operations.length === 0) throw new GraphqlSyntaxError("Syntax Error: Unexpected <EOF>.");
  const used = new Set<string>();
  const expand = (fields: FieldNode[], path: string[]): FieldNode[] =>
    fields.flatMap((field): FieldNode[] => {
      if (field.spread !== undefined) {
        const fragment = parser.fragments.get(field.spread);
        if (!fragment) throw new GraphqlSyntaxError(`Unknown fragment "${field.spread}".`);
        if (path.includes(field.spread)) {
          throw new GraphqlSyntaxError(`Cannot spread fragment "${field.spread}" within itself.`);
        }
        used.add(field.spread);
        return expand(fragment.selections, [...path, field.spread]).map((inner) => ({
          ...inner,
          on: inner.on ?? fragment.on,
        }));
      }
      return [{
        ...field,
        selections: field.selections ? expand(field.selections, path) : undefined,
      }];
    });
  for (const operation of operations) operation.selections = expand(operation.selections, []);
  const unused = [...parser.fragments.keys()].find((name) => !used.has(name));
  if (unused !== undefined) {
    throw new GraphqlSyntaxError(`Fragment "${unused}" is never used.`);
  }
  if (operationName) {
    const named = operations.find((op) => op.name === operationName);
    if (!named) throw new GraphqlSyntaxError(`Unknown operation named "${operationName}".`);
    return named;
  }
  if (operations.length > 1) {
    throw new GraphqlSyntaxError(
      "Must provide operation name if query contains multiple operations.",
    );
  }
  return operations[0]!;
}

/** Resolves a value node against the request's variables (undefined for an unset variable). */
export function resolveValue(
  node: ValueNode,
  variables: Record<string, unknown>,
  defaults: Map<string, ValueNode | undefined> = new Map(),
): unknown {
  switch (node.kind) {
    case "variable": {
      if (Object.hasOwn(variables, node.name)) return variables[node.name];
      const fallback = defaults.get(node.name);
      return fallback === undefined ? undefined : resolveValue(fallback, variables);
    }
    case "scalar":
      return node.value;
    case "enum":
      return node.value;
    case "list":
      return node.values.map((value) => resolveValue(value, variables, defaults));
    case "object": {
      const out: Record<string, unknown> = {};
      for (const [key, value] of node.fields) out[key] = resolveValue(value, variables, defaults);
      return out;
    }
  }
}
