/**
 * The OpenCTI simulator's GraphQL schema: the types and fields it answers (the subset connectors
 * and pycti use), their arguments and input types, and the versions from which optional parts
 * exist (`SimFeatures`). Field sets are data; validation and resolution live elsewhere.
 *
 * @module
 */

/** Platform versions from which optional parts of the schema exist. */
export interface SimFeatures {
  /** `pingConnector(connectorInfo:)` and `Connector.connector_info`. @default "6.2.12" */
  connectorInfo?: string;
  /** `stixBundlePush`. @default "6.3.0" */
  stixBundlePush?: string;
  /** `stixBundlePush(work_id:)`. @default "6.5.7" */
  workId?: string;
  /** `RegisterConnectorInput.auto_update` and `enrichment_resolution`. @default "6.8.9" */
  autoUpdate?: string;
  /** `objectLabel` and `objectMarking` as lists (before: connections `{edges{node}}`). @default "6.0.0" */
  listRefs?: string;
  /** `isWorkAlive(id)` (estimated first version: pycti 6.8 sends it). @default "6.8.0" */
  isWorkAlive?: string;
  /** `workAdd(isMultiPartWork:)` and `reportExpectation(expectations:)` (pycti 7.x). @default "7.0.0" */
  multiPartWork?: string;
  /** `FilterGroup` filters in list queries (older platforms take a list of filters). @default "5.12.0" */
  filterGroups?: string;
  /** `RegisterConnectorInput.playbook_compatible`. @default "5.12.0" */
  playbookCompatible?: string;
  /** `RegisterConnectorInput.listen_callback_uri` (conservative: its first version is unverified). @default "6.3.0" */
  listenCallbackUri?: string;
}

/** The first version of each gated part, as the simulator applies them by default. */
export const DEFAULT_FEATURES: Required<SimFeatures> = {
  connectorInfo: "6.2.12",
  stixBundlePush: "6.3.0",
  workId: "6.5.7",
  autoUpdate: "6.8.9",
  filterGroups: "5.12.0",
  listRefs: "6.0.0",
  isWorkAlive: "6.8.0",
  multiPartWork: "7.0.0",
  playbookCompatible: "5.12.0",
  listenCallbackUri: "6.3.0",
};

/** A gated part of the schema (a key of `SimFeatures`). */
export type Gate = keyof SimFeatures;
/** An argument of a field: required, its input type, its version gate. */
export interface ArgDef {
  required?: boolean;
  input?: string;
  gate?: Gate;
}
/** A field of an object type: its type (absent for scalars), arguments and version gate. */
export interface FieldDef {
  type?: string;
  args?: Record<string, ArgDef>;
  gate?: Gate;
}

/** The arguments of list queries. */
export const PAGE_ARGS: Record<string, ArgDef> = {
  first: {},
  after: {},
  orderBy: {},
  orderMode: {},
  filters: { input: "FilterGroup", gate: "filterGroups" },
  search: {},
};

/** Fields every knowledge object answers (the subset real clients read). */
export const OBJECT_FIELDS: Record<string, FieldDef> = {
  id: {},
  standard_id: {},
  entity_type: {},
  parent_types: {},
  spec_version: {},
  created_at: {},
  updated_at: {},
  created: {},
  modified: {},
  confidence: {},
  revoked: {},
  x_opencti_stix_ids: {},
  name: {},
  description: {},
  observable_value: {},
  value: {},
  x_opencti_score: {},
  createdBy: { type: "Identity" },
  objectMarking: { type: "MarkingDefinition" },
  objectLabel: { type: "Label" },
  externalReferences: { type: "ExternalReferenceConnection", args: { first: {} } },
};

/** Fields of indicators. */
export const INDICATOR_FIELDS: Record<string, FieldDef> = {
  ...OBJECT_FIELDS,
  pattern: {},
  pattern_type: {},
  pattern_version: {},
  indicator_types: {},
  valid_from: {},
  valid_until: {},
  x_opencti_detection: {},
  x_opencti_main_observable_type: {},
};

/** Fields of identities. */
export const IDENTITY_FIELDS: Record<string, FieldDef> = {
  ...OBJECT_FIELDS,
  identity_class: {},
  contact_information: {},
};

/** Concrete domain object types (besides indicators and identities). */
export const SDO_TYPES = [
  "Incident",
  "AttackPattern",
  "Malware",
  "Tool",
  "Vulnerability",
  "Report",
  "Note",
  "Infrastructure",
  "IntrusionSet",
  "Campaign",
  "ThreatActorGroup",
  "ThreatActorIndividual",
  "CaseIncident",
  "Grouping",
  "ObservedData",
  "Opinion",
  "CourseOfAction",
  "Channel",
  "Event",
  "Narrative",
  "Language",
  "DataComponent",
  "DataSource",
  "MalwareAnalysis",
  "Country",
  "City",
  "Region",
  "Position",
  "AdministrativeArea",
];
/** Concrete identity types. */
export const IDENTITY_TYPES = ["Organization", "Individual", "System", "Sector"];
/** Concrete observable types. */
export const OBSERVABLE_TYPES = [
  "IPv4Addr",
  "IPv6Addr",
  "DomainName",
  "Hostname",
  "Url",
  "EmailAddr",
  "EmailMessage",
  "StixFile",
  "Artifact",
  "MacAddr",
  "UserAccount",
  "X509Certificate",
  "AutonomousSystem",
  "Directory",
  "Mutex",
  "Software",
  "Process",
  "NetworkTraffic",
  "WindowsRegistryKey",
  "UserAgent",
  "Text",
  "PhoneNumber",
  "CryptographicKey",
  "CryptocurrencyWallet",
  "Credential",
  "TrackingNumber",
  "BankAccount",
];
/** Interfaces every knowledge object implements. */
export const CORE = ["StixCoreObject", "StixObject", "BasicObject"];
/** Interfaces of each object type (concrete and abstract). */
export const IMPLEMENTS: Record<string, string[]> = {
  StixCoreObject: ["StixObject", "BasicObject"],
  StixDomainObject: CORE,
  StixCyberObservable: CORE,
  Identity: ["StixDomainObject", ...CORE],
  Indicator: ["StixDomainObject", ...CORE],
  ...Object.fromEntries(SDO_TYPES.map((t) => [t, ["StixDomainObject", ...CORE]])),
  ...Object.fromEntries(IDENTITY_TYPES.map((t) => [t, ["Identity", "StixDomainObject", ...CORE]])),
  ...Object.fromEntries(OBSERVABLE_TYPES.map((t) => [t, ["StixCyberObservable", ...CORE]])),
};

/** The knowledge object types and interfaces, with their fields. */
export const KNOWLEDGE_TYPES: Record<string, Record<string, FieldDef>> = {
  BasicObject: { id: {}, standard_id: {}, entity_type: {}, parent_types: {} },
  StixObject: {
    id: {},
    standard_id: {},
    entity_type: {},
    parent_types: {},
    x_opencti_stix_ids: {},
  },
  StixCoreObject: OBJECT_FIELDS,
  StixDomainObject: OBJECT_FIELDS,
  StixCyberObservable: OBJECT_FIELDS,
  Identity: IDENTITY_FIELDS,
  Indicator: INDICATOR_FIELDS,
  ...Object.fromEntries(SDO_TYPES.map((t) => [t, OBJECT_FIELDS])),
  ...Object.fromEntries(IDENTITY_TYPES.map((t) => [t, IDENTITY_FIELDS])),
  ...Object.fromEntries(OBSERVABLE_TYPES.map((t) => [t, OBJECT_FIELDS])),
};

/** Every object type the simulator answers, with its fields. */
export const SCHEMA: Record<string, Record<string, FieldDef>> = {
  Query: {
    about: { type: "AppInfo" },
    me: { type: "MeUser" },
    settings: { type: "Settings" },
    isWorkAlive: { gate: "isWorkAlive", args: { id: { required: true } } },
    streamCollection: { type: "StreamCollection", args: { id: { required: true } } },
    stixCoreObject: { type: "StixCoreObject", args: { id: {} } },
    // The object's STIX 2.1 representation as a JSON string (null when absent).
    stixCoreObjectRaw: { args: { id: { required: true } } },
    stixDomainObject: { type: "StixDomainObject", args: { id: {} } },
    stixCyberObservable: { type: "StixCyberObservable", args: { id: {} } },
    indicator: { type: "Indicator", args: { id: {} } },
    externalReference: { type: "ExternalReference", args: { id: { required: true } } },
    connector: { type: "Connector", args: { id: { required: true } } },
    connectors: { type: "Connector" },
    work: { type: "Work", args: { id: { required: true } } },
    works: { type: "WorkConnection", args: PAGE_ARGS },
    externalReferences: { type: "ExternalReferenceConnection", args: PAGE_ARGS },
    stixDomainObjects: { type: "StixDomainObjectConnection", args: { ...PAGE_ARGS, types: {} } },
    stixCyberObservables: {
      type: "StixCyberObservableConnection",
      args: { ...PAGE_ARGS, types: {}, toStix: {} },
    },
  },
  Mutation: {
    registerConnector: { type: "Connector", args: { input: { input: "RegisterConnectorInput" } } },
    pingConnector: {
      type: "Connector",
      args: {
        id: { required: true },
        state: {},
        connectorInfo: { input: "ConnectorInfoInput", gate: "connectorInfo" },
      },
    },
    resetStateConnector: { type: "Connector", args: { id: { required: true } } },
    workAdd: {
      type: "Work",
      args: {
        connectorId: { required: true },
        friendlyName: {},
        isMultiPartWork: { gate: "multiPartWork" },
      },
    },
    externalReferenceEdit: {
      type: "ExternalReferenceEditMutations",
      args: { id: { required: true } },
    },
    workEdit: { type: "WorkEditMutations", args: { id: { required: true } } },
    externalReferenceAdd: {
      type: "ExternalReference",
      args: { input: { required: true, input: "ExternalReferenceAddInput" } },
    },
    stixDomainObjectEdit: {
      type: "StixDomainObjectEditMutations",
      args: { id: { required: true } },
    },
    stixCyberObservableEdit: {
      type: "StixCyberObservableEditMutations",
      args: { id: { required: true } },
    },
    stixBundlePush: {
      gate: "stixBundlePush",
      args: {
        connectorId: { required: true },
        bundle: { required: true },
        work_id: { gate: "workId" },
      },
    },
  },
  AppInfo: { version: {}, dependencies: { type: "DependencyVersion" } },
  DependencyVersion: { name: {}, version: {} },
  MeUser: {
    id: {},
    name: {},
    user_email: {},
    individual_id: {},
    entity_type: {},
    capabilities: { type: "Capability" },
    groups: { type: "GroupConnection" },
  },
  Capability: { id: {}, name: {}, description: {} },
  GroupConnection: { edges: { type: "GroupEdge" } },
  GroupEdge: { node: { type: "Group" } },
  Group: { id: {}, name: {} },
  Settings: {
    id: {},
    platform_title: {},
    platform_email: {},
    platform_language: {},
    platform_url: {},
    entity_type: {},
  },
  StreamCollection: {
    id: {},
    name: {},
    description: {},
    filters: {},
    stream_live: {},
    stream_public: {},
  },
  Creator: { id: {}, name: {}, entity_type: {} },
  ExternalReferenceEditMutations: {
    fieldPatch: {
      type: "ExternalReference",
      args: { input: { required: true, input: "EditInput" } },
    },
    delete: {},
  },
  Connector: {
    id: {},
    name: {},
    active: {},
    auto: {},
    only_contextual: {},
    playbook_compatible: {},
    listen_callback_uri: {},
    connector_type: {},
    connector_scope: {},
    connector_state: {},
    connector_user_id: {},
    built_in: {},
    created_at: {},
    updated_at: {},
    config: { type: "ConnectorConfig" },
    connector_info: { type: "ConnectorInfo", gate: "connectorInfo" },
    connector_queue_details: { type: "QueueDetails" },
  },
  ConnectorConfig: {
    connection: { type: "RabbitMQConnection" },
    listen: {},
    listen_routing: {},
    listen_exchange: {},
    push: {},
    push_routing: {},
    push_exchange: {},
  },
  RabbitMQConnection: { host: {}, vhost: {}, use_ssl: {}, port: {}, user: {}, pass: {} },
  ConnectorInfo: {
    run_and_terminate: {},
    buffering: {},
    queue_threshold: {},
    queue_messages_size: {},
    next_run_datetime: {},
    last_run_datetime: {},
  },
  QueueDetails: { messages_number: {}, messages_size: {} },
  Work: {
    id: {},
    name: {},
    timestamp: {},
    status: {},
    event_source_id: {},
    received_time: {},
    processed_time: {},
    completed_time: {},
    completed_number: {},
    messages: { type: "WorkMessage" },
    errors: { type: "WorkMessage" },
    tracking: { type: "WorkTracking" },
    draft_context: {},
    user: { type: "Creator" },
  },
  WorkMessage: { timestamp: {}, message: {}, sequence: {}, source: {} },
  WorkTracking: {
    import_expected_number: {},
    import_last_processed: {},
    import_processed_number: {},
  },
  WorkConnection: { edges: { type: "WorkEdge" }, pageInfo: { type: "PageInfo" } },
  WorkEdge: { node: { type: "Work" }, cursor: {} },
  WorkEditMutations: {
    delete: {},
    ping: {},
    reportExpectation: {
      args: { error: { input: "WorkErrorInput" }, expectations: { gate: "multiPartWork" } },
    },
    addExpectations: { args: { expectations: {} } },
    addDraftContext: { args: { draftContext: {} } },
    toReceived: { args: { message: {} } },
    toProcessed: { args: { message: {}, inError: {} } },
  },
  StixDomainObjectEditMutations: {
    relationAdd: {
      type: "StixRefRelationship",
      args: { input: { required: true, input: "StixRefRelationshipAddInput" } },
    },
  },
  StixCyberObservableEditMutations: {
    relationAdd: {
      type: "StixRefRelationship",
      args: { input: { required: true, input: "StixRefRelationshipAddInput" } },
    },
  },
  StixRefRelationship: { id: {}, standard_id: {}, entity_type: {}, relationship_type: {} },
  ExternalReferenceConnection: {
    edges: { type: "ExternalReferenceEdge" },
    pageInfo: { type: "PageInfo" },
  },
  ExternalReferenceEdge: { node: { type: "ExternalReference" }, cursor: {} },
  ExternalReference: {
    id: {},
    standard_id: {},
    entity_type: {},
    parent_types: {},
    source_name: {},
    description: {},
    url: {},
    external_id: {},
    created_at: {},
    updated_at: {},
  },
  StixDomainObjectConnection: {
    edges: { type: "StixDomainObjectEdge" },
    pageInfo: { type: "PageInfo" },
  },
  StixDomainObjectEdge: { node: { type: "StixDomainObject" }, cursor: {} },
  StixCyberObservableConnection: {
    edges: { type: "StixCyberObservableEdge" },
    pageInfo: { type: "PageInfo" },
  },
  StixCyberObservableEdge: { node: { type: "StixCyberObservable" }, cursor: {} },
  ...KNOWLEDGE_TYPES,
  MarkingDefinition: {
    id: {},
    standard_id: {},
    entity_type: {},
    definition_type: {},
    definition: {},
    x_opencti_order: {},
    x_opencti_color: {},
  },
  Label: { id: {}, value: {}, color: {} },
  MarkingDefinitionConnection: { edges: { type: "MarkingDefinitionEdge" } },
  MarkingDefinitionEdge: { node: { type: "MarkingDefinition" } },
  LabelConnection: { edges: { type: "LabelEdge" } },
  LabelEdge: { node: { type: "Label" } },
  PageInfo: {
    startCursor: {},
    endCursor: {},
    hasNextPage: {},
    hasPreviousPage: {},
    globalCount: {},
  },
};

/** A field of an input type. */
export interface InputFieldDef {
  required?: boolean;
  input?: string;
  gate?: Gate;
}

/** The input types and their fields. */
export const INPUTS: Record<string, Record<string, InputFieldDef>> = {
  RegisterConnectorInput: {
    id: { required: true },
    name: { required: true },
    type: { required: true },
    scope: {},
    auto: {},
    only_contextual: {},
    playbook_compatible: { gate: "playbookCompatible" },
    listen_callback_uri: { gate: "listenCallbackUri" },
    auto_update: { gate: "autoUpdate" },
    enrichment_resolution: { gate: "autoUpdate" },
  },
  ConnectorInfoInput: {
    run_and_terminate: { required: true },
    buffering: { required: true },
    queue_threshold: { required: true },
    queue_messages_size: { required: true },
    next_run_datetime: {},
    last_run_datetime: {},
  },
  WorkErrorInput: { error: {}, source: {} },
  EditInput: { key: { required: true }, value: { required: true }, operation: {}, object_path: {} },
  ExternalReferenceAddInput: {
    stix_id: {},
    source_name: { required: true },
    description: {},
    url: {},
    hash: {},
    external_id: {},
    created: {},
    modified: {},
    x_opencti_stix_ids: {},
    update: {},
  },
  StixRefRelationshipAddInput: {
    fromId: {},
    toId: { required: true },
    relationship_type: { required: true },
  },
  FilterGroup: {
    mode: { required: true },
    filters: { required: true, input: "Filter" },
    filterGroups: { required: true, input: "FilterGroup" },
  },
  Filter: { key: { required: true }, values: { required: true }, operator: {}, mode: {} },
};

/** Values of the `ConnectorType` enum. */
export const CONNECTOR_TYPES = new Set([
  "EXTERNAL_IMPORT",
  "INTERNAL_IMPORT_FILE",
  "INTERNAL_ENRICHMENT",
  "INTERNAL_ANALYSIS",
  "INTERNAL_EXPORT_FILE",
  "STREAM",
]);

/** The generic messages of the classic error layout, by error name. */
export const GENERIC_MESSAGES: Record<string, string> = {
  UnsupportedError: "Unsupported operation",
  FunctionalError: "Business validation",
  AuthRequired: "You must be logged in to do this.",
  ForbiddenAccess: "You are not allowed to do this.",
};

/** The `http_status` of each error name. */
export const HTTP_STATUS: Record<string, number> = {
  UnsupportedError: 500,
  FunctionalError: 500,
  AuthRequired: 401,
  ForbiddenAccess: 403,
};

/** STIX types of observables. */
export const SCO_TYPES = new Set([
  "ipv4-addr",
  "ipv6-addr",
  "domain-name",
  "hostname",
  "url",
  "email-addr",
  "email-message",
  "file",
  "artifact",
  "mac-addr",
  "user-account",
  "x509-certificate",
  "autonomous-system",
  "directory",
  "mutex",
  "software",
  "process",
  "network-traffic",
  "windows-registry-key",
  "user-agent",
  "text",
  "phone-number",
  "cryptographic-key",
  "cryptocurrency-wallet",
  "credential",
  "tracking-number",
  "bank-account",
]);
/** STIX types that are neither domain objects nor observables. */
export const NOT_SDO = new Set(["relationship", "sighting", "marking-definition"]);
/** The OpenCTI observable extension's id. */
export const OBSERVABLE_EXTENSION = "extension-definition--f93e2c80-4231-4f9a-af8b-95c9bd566a82";
/** Namespace of the internal ids the simulator derives. */
export const INTERNAL_NAMESPACE = "b639ff3b-00eb-42ed-aa36-a8dd6f8fb4cf";

/** Compares platform versions numerically (the simulator does not import the client's parser). */
export function compareVersions(a: string, b: string): number {
  const parse = (v: string) => (/^(\d+)\.(\d+)(?:\.(\d+))?/.exec(v) ?? []).slice(1).map(Number);
  const left = parse(a);
  const right = parse(b);
  for (let i = 0; i < 3; i++) {
    const diff = (left[i] || 0) - (right[i] || 0);
    if (diff !== 0) return diff;
  }
  return 0;
}
