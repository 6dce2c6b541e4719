/**
 * Dead letters of the sentinel connector: indicators a target refused for good, each proven on its
 * own (an item-level failure, issue 11). Bounded (`SENTINEL_DEAD_LETTER_LIMIT`, the oldest entry
 * leaves first and is counted as overflow), kept across restarts in a JSON file
 * (`SENTINEL_DEAD_LETTER_FILE`), listed and replayed through the server.
 *
 * Why a file and not the connector state in OpenCTI: `pingConnector` sends the whole state on every
 * ping (every 40 s) and on every checkpoint; at the default limit of 10,000 entries of about 300
 * bytes each, that would be some 3 MB per ping, for data that changes rarely.
 *
 * @module
 */
import { dirname } from "node:path";
import * as v from "valibot";

/** One indicator a target refused for good. */
export interface DeadLetter {
  /** STIX id of the indicator. */
  id: string;
  /** The operation that failed. */
  kind: "upsert" | "remove";
  /** Why: the target's answer as its client reports it (status, code, message, request ids). */
  reason: string;
  /** Attempts made so far (including replays). */
  attempts: number;
  /** ISO date of the first failure. */
  firstFailedAt: string;
  /** ISO date of the last failure. */
  lastFailedAt: string;
}

/** Where dead letters are kept between runs. */
export interface DeadLetterStore {
  /** The saved list and overflow count, or undefined when nothing was saved yet. */
  load(): Promise<{ entries: DeadLetter[]; overflow: number } | undefined>;
  /** Saves the whole list. */
  save(data: { entries: DeadLetter[]; overflow: number }): Promise<void>;
}

const Saved = v.object({
  version: v.literal(1),
  overflow: v.pipe(v.number(), v.integer(), v.minValue(0)),
  entries: v.array(v.object({
    id: v.string(),
    kind: v.picklist(["upsert", "remove"]),
    reason: v.string(),
    attempts: v.pipe(v.number(), v.integer(), v.minValue(1)),
    firstFailedAt: v.string(),
    lastFailedAt: v.string(),
  })),
});

/** The dead-letter file could not be read or parsed. */
export class DeadLetterFileError extends Error {
  /** The error's name. */
  override name = "DeadLetterFileError";
}

/**
 * The dead-letter file could not be written (no write permission, a read-only disk): the message
 * names `SENTINEL_DEAD_LETTER_FILE` and the permission flag or volume that fixes it.
 */
export class DeadLetterSaveError extends Error {
  /** The error's name. */
  override name = "DeadLetterSaveError";

  /** Explains why saving to `path` failed. */
  constructor(path: string, cause: unknown) {
    const dir = dirname(path);
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(
      `Cannot save the dead letters to ${path} (SENTINEL_DEAD_LETTER_FILE): ${reason}. ` +
        `Make ${dir} writable: grant --allow-write=${dir} to deno run or deno compile ` +
        `(deno task start and deno task compile grant ./data, the default folder); with Docker ` +
        `mount a writable volume at /app/data; or set SENTINEL_DEAD_LETTER_FILE=none to keep ` +
        `them in memory only. Until then they are kept in memory and lost on restart.`,
      { cause },
    );
  }
}

/**
 * Keeps dead letters in a JSON file, written to a temporary file and renamed (never half-written);
 * its folder is created on the first save.
 */
export class FileDeadLetterStore implements DeadLetterStore {
  readonly #path: string;

  /** Uses the file at `path` (created on the first save). */
  constructor(path: string) {
    this.#path = path;
  }

  /** Reads the file; a missing file is an empty list. */
  async load(): Promise<{ entries: DeadLetter[]; overflow: number } | undefined> {
    let text: string;
    try {
      text = await Deno.readTextFile(this.#path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw new DeadLetterFileError(
        `Cannot read the dead-letter file ${this.#path}: check SENTINEL_DEAD_LETTER_FILE`,
        { cause: error },
      );
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (cause) {
      throw new DeadLetterFileError(
        `The dead-letter file ${this.#path} is not JSON: fix or move it (SENTINEL_DEAD_LETTER_FILE)`,
        { cause },
      );
    }
    const parsed = v.safeParse(Saved, json);
    if (!parsed.success) {
      throw new DeadLetterFileError(
        `The dead-letter file ${this.#path} has an unexpected shape: ${
          v.summarize(parsed.issues)
        }; fix or move it (SENTINEL_DEAD_LETTER_FILE)`,
      );
    }
    return { entries: parsed.output.entries, overflow: parsed.output.overflow };
  }

  /** Writes the list atomically; throws {@linkcode DeadLetterSaveError}. */
  async save(data: { entries: DeadLetter[]; overflow: number }): Promise<void> {
    const temporary = `${this.#path}.tmp`;
    const dir = dirname(this.#path);
    try {
      if (dir !== ".") await Deno.mkdir(dir, { recursive: true });
      await Deno.writeTextFile(temporary, JSON.stringify({ version: 1, ...data }));
      await Deno.rename(temporary, this.#path);
    } catch (error) {
      throw new DeadLetterSaveError(this.#path, error);
    }
  }
}

/** Keeps dead letters in memory only (tests, or a deployment without a writable disk). */
export class MemoryDeadLetterStore implements DeadLetterStore {
  #data: { entries: DeadLetter[]; overflow: number } | undefined;

  /** The saved data, if any. */
  load(): Promise<{ entries: DeadLetter[]; overflow: number } | undefined> {
    return Promise.resolve(this.#data && structuredClone(this.#data));
  }

  /** Keeps a copy. */
  save(data: { entries: DeadLetter[]; overflow: number }): Promise<void> {
    this.#data = structuredClone(data);
    return Promise.resolve();
  }
}

/** The bounded list of dead letters of one connector. */
export class DeadLetters {
  readonly #limit: number;
  readonly #store: DeadLetterStore;
  #entries = new Map<string, DeadLetter>();
  #overflow = 0;
  #loaded = false;
  #unreadable = false;
  #saving: Promise<void> = Promise.resolve();
  #saveError: unknown;
  #onSaveError: (error: unknown) => void = () => {};

  /** A list of at most `limit` entries kept in `store`. */
  constructor(store: DeadLetterStore, limit = 10_000) {
    if (!(limit >= 1)) {
      throw new RangeError(`SENTINEL_DEAD_LETTER_LIMIT must be at least 1, got ${limit}`);
    }
    this.#store = store;
    this.#limit = limit;
  }

  /** Reads the saved list once (later calls do nothing). */
  async load(): Promise<void> {
    if (this.#loaded) return;
    let saved;
    try {
      saved = await this.#store.load();
    } catch (error) {
      // Keep the unreadable file as it is for the operator: this run keeps its list in memory.
      this.#unreadable = true;
      this.#loaded = true;
      throw error;
    }
    this.#loaded = true;
    if (!saved) return;
    for (const entry of saved.entries) this.#entries.set(entry.id, entry);
    this.#overflow = saved.overflow;
    this.#trim();
  }

  /**
   * Calls `listener` when a save fails, once until a save succeeds again. A failed save never
   * rejects: the list stays in memory and the next change tries to save it again.
   */
  onSaveError(listener: (error: unknown) => void): void {
    this.#onSaveError = listener;
  }

  /** The error of the last save while saves fail; undefined once one succeeds. */
  get saveError(): unknown {
    return this.#saveError;
  }

  /** Entries, oldest first. */
  list(): DeadLetter[] {
    return [...this.#entries.values()].map((entry) => ({ ...entry }));
  }

  /** Number of entries. */
  get size(): number {
    return this.#entries.size;
  }

  /** Entries dropped because the list was full. */
  get overflow(): number {
    return this.#overflow;
  }

  /** The entry for this indicator, if any. */
  get(id: string): DeadLetter | undefined {
    const entry = this.#entries.get(id);
    return entry && { ...entry };
  }

  /** Records (or updates) a dead letter and saves the list. */
  add(
    failure: { id: string; kind: "upsert" | "remove"; reason: string },
    at: number,
  ): Promise<void> {
    this.record(failure, at);
    return this.#save();
  }

  /** Records (or updates) a dead letter without saving (call {@linkcode DeadLetters.save} after a batch). */
  record(failure: { id: string; kind: "upsert" | "remove"; reason: string }, at: number): void {
    const iso = new Date(at).toISOString();
    const previous = this.#entries.get(failure.id);
    const entry: DeadLetter = {
      id: failure.id,
      kind: failure.kind,
      reason: failure.reason,
      attempts: (previous?.attempts ?? 0) + 1,
      firstFailedAt: previous?.firstFailedAt ?? iso,
      lastFailedAt: iso,
    };
    this.#entries.delete(failure.id);
    this.#entries.set(failure.id, entry);
    this.#trim();
  }

  /** Saves the list as it is now. */
  save(): Promise<void> {
    return this.#save();
  }

  /** Removes the entries of these indicators (delivered since); saves when one was there. */
  remove(ids: Iterable<string>): Promise<void> {
    return this.forget(ids) ? this.#save() : this.#saving;
  }

  /** Removes the entries of these indicators without saving; true when one was there. */
  forget(ids: Iterable<string>): boolean {
    let changed = false;
    for (const id of ids) changed = this.#entries.delete(id) || changed;
    return changed;
  }

  #trim(): void {
    for (const id of this.#entries.keys()) {
      if (this.#entries.size <= this.#limit) break;
      this.#entries.delete(id);
      this.#overflow++;
    }
  }

  #save(): Promise<void> {
    if (this.#unreadable) return Promise.resolve();
    const data = { entries: this.list(), overflow: this.#overflow };
    this.#saving = this.#saving.then(() => this.#store.save(data)).then(
      () => {
        this.#saveError = undefined;
      },
      (error: unknown) => {
        const first = this.#saveError === undefined;
        this.#saveError = error;
        if (first) this.#onSaveError(error);
      },
    );
    return this.#saving;
  }
}
