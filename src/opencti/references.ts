/**
 * External references written on OpenCTI objects, with the GraphQL mutations pycti uses
 * (`external_reference.create`, then `add_external_reference` on the domain object or the
 * observable: `relationAdd` with `relationship_type: "external-reference"`;
 * `external_reference.delete`), and the live stream's echo of such a write.
 *
 * @module
 */
import * as v from "valibot";
import type { OpenCtiClient } from "./graphql.ts";

/** An external reference to create. */
export interface NewExternalReference {
  /** `source_name`. */
  source_name: string;
  /** Where the referenced object can be seen. */
  url: string;
  /** The key of the referenced object at its source. */
  external_id: string;
  /** A short human text. */
  description: string;
}

const EXTERNAL_REFERENCE_ADD = `mutation ExternalReferenceAdd($input: ExternalReferenceAddInput!) {
  externalReferenceAdd(input: $input) { id standard_id }
}`;
const ReferenceAnswer = v.object({
  externalReferenceAdd: v.object({ id: v.string(), standard_id: v.optional(v.string()) }),
});

const RELATION_ADD =
  `mutation StixDomainObjectEditRelationAdd($id: ID!, $input: StixRefRelationshipAddInput!) {
  stixDomainObjectEdit(id: $id) { relationAdd(input: $input) { id } }
}`;
const RelationAnswer = v.object({
  stixDomainObjectEdit: v.nullable(
    v.object({ relationAdd: v.nullable(v.object({ id: v.string() })) }),
  ),
});

/** pycti `stix_cyber_observable.add_external_reference`. */
const OBSERVABLE_RELATION_ADD =
  `mutation StixCyberObservableEditRelationAdd($id: ID!, $input: StixRefRelationshipAddInput!) {
  stixCyberObservableEdit(id: $id) { relationAdd(input: $input) { id } }
}`;
const ObservableRelationAnswer = v.object({
  stixCyberObservableEdit: v.nullable(
    v.object({ relationAdd: v.nullable(v.object({ id: v.string() })) }),
  ),
});

/** pycti `external_reference.delete`. */
const EXTERNAL_REFERENCE_DELETE = `mutation ExternalReferenceEdit($id: ID!) {
  externalReferenceEdit(id: $id) { delete }
}`;
const DeleteAnswer = v.object({
  externalReferenceEdit: v.nullable(v.object({ delete: v.nullable(v.string()) })),
});

/** Options of {@linkcode addExternalReference}. */
export interface AddReferenceOptions {
  /** The object is an observable (else a domain object such as an indicator). @default false */
  observable?: boolean;
  /** Stops the requests. */
  signal?: AbortSignal;
}

/** Creates the reference and attaches it to the object (`objectId`: its id or STIX id). */
export async function addExternalReference(
  client: OpenCtiClient,
  objectId: string,
  reference: NewExternalReference,
  options: AddReferenceOptions = {},
): Promise<void> {
  const signal = options.signal ? { signal: options.signal } : {};
  const created = await client.request(EXTERNAL_REFERENCE_ADD, ReferenceAnswer, {
    variables: { input: reference },
    ...signal,
  });
  const variables = {
    id: objectId,
    input: { toId: created.externalReferenceAdd.id, relationship_type: "external-reference" },
  };
  if (options.observable) {
    await client.request(OBSERVABLE_RELATION_ADD, ObservableRelationAnswer, {
      variables,
      ...signal,
    });
  } else {
    await client.request(RELATION_ADD, RelationAnswer, { variables, ...signal });
  }
}

/** Deletes an external reference (by its OpenCTI id), which takes it off every object. */
export async function deleteExternalReference(client: OpenCtiClient, id: string): Promise<void> {
  await client.request(EXTERNAL_REFERENCE_DELETE, DeleteAnswer, { variables: { id } });
}

/** Patch paths an echo of a reference write may touch: references and bookkeeping dates. */
const ECHO_PATH = /^\/(external_references(\/.*)?|modified|extensions\/[^/]+\/updated_at)$/;
const REFERENCES_PATH = /^\/external_references(\/|$)/;

const PatchShape = v.looseObject({
  context: v.looseObject({
    patch: v.array(v.looseObject({ op: v.string(), path: v.string() })),
  }),
});

/**
 * True when a stream `update` event's patch changed external references and nothing else but
 * the bookkeeping dates (`modified`, `updated_at`): what the platform emits after a reference
 * was written on the object.
 */
export function onlyReferencesPatched(envelope: unknown): boolean {
  const parsed = v.safeParse(PatchShape, envelope);
  if (!parsed.success) return false;
  const patch = parsed.output.context.patch;
  return patch.some((op) => REFERENCES_PATH.test(op.path)) &&
    patch.every((op) => ECHO_PATH.test(op.path));
}
