/**
 * The OpenCTI platform layer: GraphQL client, connector lifecycle, works, bundle push, lookups.
 *
 * @module
 */
export {
  compareVersions,
  type GraphqlRequestOptions,
  MINIMUM_VERSION,
  OpenCtiClient,
  type OpenCtiClientOptions,
  type OpenCtiRetryOptions,
  parseVersion,
  readGraphqlError,
} from "./graphql.ts";
export {
  BundleRejectedError,
  OpenCtiAuthError,
  OpenCtiGraphqlError,
  OpenCtiResponseError,
  OpenCtiVersionError,
} from "./errors.ts";
export {
  ConnectorLifecycle,
  type ConnectorLifecycleOptions,
  type ConnectorRunInfo,
  type ConnectorState,
  type ConnectorType,
  parseState,
  pingDate,
  sameState,
  serializeState,
} from "./connector.ts";
export { friendlyName, type Work, type WorkMessage, Works, type WorksOptions } from "./works.ts";
export {
  BundlePusher,
  type BundlePusherOptions,
  type PushOptions,
  type PushResult,
  refsOf,
  splitBundle,
  WORK_ID_SINCE,
} from "./bundle.ts";
export {
  type EntityRef,
  type ExternalReference,
  type Filter,
  type FilterGroup,
  findEntityByExternalId,
  findExternalReferences,
  type LookupOptions,
  referenceFilter,
} from "./lookup.ts";
// The live stream reader (./stream.ts) is exported here by its owner.
