// Errands: the tRPC router's types, generated from the server's msgspec schemas.
// DO NOT EDIT. Regenerate with `scripts/gen_client --ts <file>`; a running server serves the
// same module at GET /trpc-types.ts.
//
//   import { createTRPCClient, httpBatchLink } from '@trpc/client';
//   import type { AppRouter } from './errands';
//   const errands = createTRPCClient<AppRouter>({ links: [httpBatchLink({ url })] });
//
// Needs `@trpc/server` 11 installed (types only) beside `@trpc/client`; no transformer.

import type {
  inferRouterInputs,
  inferRouterOutputs,
  TRPCBuiltRouter,
  TRPCDefaultErrorData,
  TRPCErrorShape,
  TRPCMutationProcedure,
  TRPCQueryProcedure,
  TRPCSubscriptionProcedure,
} from '@trpc/server';

/** One problem of a BAD_REQUEST validation error: where (field path) and what. */
export interface ValidationIssue {
  path: (string | number)[];
  message: string;
}

/** `error.data` of every Errands error: tRPC's default data, plus `issues` on validation. */
export interface ErrandsErrorData extends TRPCDefaultErrorData {
  issues?: ValidationIssue[];
}

/** The error shape of every Errands procedure. */
export type ErrandsErrorShape = TRPCErrorShape<ErrandsErrorData> & { message: string };

/** A JSON value: what an output typed `Any` (a result, a body) holds on the wire. */
export type JsonValue =
  | string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** A subscription item with an id (SSE `id:`); resume with `lastEventId`. */
export interface Tracked<T> {
  id: string;
  data: T;
}

export interface ApiCallConfig {
  /** non-empty */
  apiEndpoint: string;
  /** default: "GET" */
  apiMethod?: HttpMethod;
  /** default: "none" */
  authType?: AuthType;
  /** default: null */
  bearerToken?: string | null;
  /** non-empty; default: "X-API-Key" */
  apiKeyHeader?: string;
  /** default: null */
  apiKey?: string | null;
  /** default: null */
  basicUsername?: string | null;
  /** default: null */
  basicPassword?: string | null;
  /** default: null */
  headers?: Record<string, string> | null;
  /** default: null */
  query?: Record<string, string | number | boolean | (string | number | boolean)[]> | null;
  /** default: null */
  body?: unknown;
  /** default: null */
  contentType?: string | null;
  /** >= 1; <= 600000; default: 30000 */
  timeoutMs?: number;
  /** each item >= 100; each item <= 599; default: null */
  expectStatus?: number[] | null;
  /** matches /^[a-z0-9_.-]{1,60}$/; default: null */
  connection?: string | null;
}

export interface ApiKeyInfo {
  id: string;
  name: string;
  role: Role;
  clientId: string | null;
  /** ISO 8601 timestamp with a time zone */
  expiresAt: string | null;
  /** ISO 8601 timestamp with a time zone */
  createdAt: string;
  /** ISO 8601 timestamp with a time zone */
  revokedAt: string | null;
}

export interface Approval {
  by: string;
  /** ISO 8601 timestamp with a time zone */
  at: string;
  notes: string | null;
}

export interface ApprovalLink {
  url: string;
  /** ISO 8601 timestamp with a time zone */
  expiresAt: string;
}

export interface ApprovalLinkInput {
  /** non-empty */
  id: string;
  /** 1..120 chars */
  reviewer: string;
  /** >= 60; <= 604800; default: 86400 */
  expiresInSeconds?: number;
}

export interface ApproveManyInput {
  /** 1..500 items; each item non-empty */
  ids: string[];
  /** default: null */
  notes?: string | null;
}

export interface Artifact {
  id: string;
  kind: ArtifactKind;
  contentType: string;
  bytes: number;
  url: string;
  name: string | null;
}

export type ArtifactKind = "report" | "screenshot" | "trace";

export interface AuditEntry {
  id: string;
  /** ISO 8601 timestamp with a time zone */
  at: string;
  actor: string;
  role: string | null;
  action: string;
  targetType: AuditTargetType;
  targetId: string | null;
  detail: Record<string, JsonValue>;
  requestId: string | null;
}

export interface AuditList {
  /** default: null */
  targetId?: string | null;
  /** default: null */
  actor?: string | null;
  /** default: null */
  action?: string | null;
  /** ISO 8601 timestamp with a time zone; default: null */
  since?: string | null;
  /** >= 1; <= 200; default: 50 */
  limit?: number;
  /** default: null */
  cursor?: string | null;
}

export interface AuditPage {
  items: AuditEntry[];
  nextCursor: string | null;
}

export type AuditTargetType = "client" | "connection" | "key" | "schedule" | "system" | "task" | "trigger" | "webhook";

export type AuthType = "api_key" | "basic" | "bearer" | "connection" | "none";

export interface Autorun {
  enabled: boolean;
  pausedTypes: TaskType[];
}

export interface BrowserAutomationConfig {
  steps: Step[];
  /** default: null */
  startUrl?: string | null;
  /** default: null */
  viewport?: Viewport | null;
  /** >= 1; <= 600000; default: 15000 */
  stepTimeoutMs?: number;
  /** default: false */
  recordTrace?: boolean;
}

export interface BulkError {
  code: string;
  message: string;
}

export interface BulkItem {
  id: string;
  ok: boolean;
  task: Task | null;
  error: BulkError | null;
}

export interface BulkResult {
  results: BulkItem[];
}

/** No executor: the task waits ``pending`` until its callback URL is called (§16). */
export interface CallbackConfig {
  /** >= 1; <= 2592000; default: 86400 */
  timeoutSeconds?: number;
  /** default: null */
  expects?: string | null;
}

export interface CancelInput {
  /** non-empty */
  id: string;
  /** default: null */
  reason?: string | null;
}

export interface CancelManyInput {
  /** 1..500 items; each item non-empty */
  ids: string[];
  /** default: null */
  reason?: string | null;
}

/** A group's subtasks by how they ended (CONTRACT §17). */
export interface ChildCounts {
  total: number;
  completed: number;
  failed: number;
  cancelled: number;
}

export interface ClickStep {
  action: "click";
  /** non-empty */
  selector: string;
}

export interface Client {
  id: string;
  name: string;
  slug: string;
  ghlLocationId: string | null;
  metadata: Record<string, JsonValue> | null;
  /** ISO 8601 timestamp with a time zone */
  createdAt: string;
  /** ISO 8601 timestamp with a time zone */
  archivedAt: string | null;
}

export interface ClientCreate {
  /** 1..120 chars */
  name: string;
  /** matches /^[a-z0-9-]{1,60}$/; default: null */
  slug?: string | null;
  /** non-empty; default: null */
  ghlLocationId?: string | null;
  /** default: null */
  metadata?: Record<string, unknown> | null;
}

export interface ClientList {
  /** default: null */
  archived?: boolean | null;
  /** 1..200 chars; default: null */
  search?: string | null;
  /** >= 1; <= 200; default: 50 */
  limit?: number;
  /** default: null */
  cursor?: string | null;
}

export interface ClientPage {
  items: Client[];
  nextCursor: string | null;
}

export interface ClientPatch {
  /** 1..120 chars; default: null */
  name?: string | null;
  /** non-empty; default: null */
  ghlLocationId?: string | null;
  /** default: null */
  metadata?: Record<string, unknown> | null;
}

export interface ClientUpdate {
  /** non-empty */
  id: string;
  patch: ClientPatch;
}

export interface CompleteInput {
  /** non-empty */
  id: string;
  /** default: null */
  result?: unknown;
  /** default: null */
  notes?: string | null;
}

export interface Connection {
  id: string;
  name: string;
  kind: ConnectionKind;
  clientId: string | null;
  description: string | null;
  values: Record<string, string>;
  version: number;
  /** ISO 8601 timestamp with a time zone */
  createdAt: string;
  /** ISO 8601 timestamp with a time zone */
  updatedAt: string;
  /** ISO 8601 timestamp with a time zone */
  lastUsedAt: string | null;
}

export interface ConnectionCreate {
  /** matches /^[a-z0-9_.-]{1,60}$/ */
  name: string;
  kind: ConnectionKind;
  values: Record<string, string>;
  /** non-empty; default: null */
  clientId?: string | null;
  /** default: null */
  description?: string | null;
}

export interface ConnectionDelete {
  /** non-empty */
  id: string;
  /** default: false */
  force?: boolean;
}

export type ConnectionKind = "api_key" | "basic" | "bearer" | "ghl" | "headers";

export interface ConnectionList {
  /** default: null */
  clientId?: string | null;
  /** default: null */
  kind?: ConnectionKind | null;
}

export interface ConnectionPatch {
  /** default: null */
  description?: string | null;
  /** non-empty; default: null */
  clientId?: string | null;
  /** default: null */
  values?: Record<string, string> | null;
}

export interface ConnectionUpdate {
  /** non-empty */
  id: string;
  patch: ConnectionPatch;
}

export interface DataExtractionConfig {
  /** non-empty */
  url: string;
  schema: ExtractionSchema;
  /** default: null */
  waitFor?: string | null;
}

/**
 * Creates with the same ``key`` within ``seconds`` of each other leave one task, with the
 * last input, starting ``seconds`` after the last create (CONTRACT §15).
 */
export interface Debounce {
  /** 1..200 chars */
  key: string;
  /** >= 0.1; <= 86400 */
  seconds: number;
}

export interface Debounced {
  key: string;
  seconds: number;
}

export interface DeliveriesInput {
  /** non-empty */
  id: string;
  /** >= 1; <= 200; default: 50 */
  limit?: number;
}

/** ``tasks.duplicate`` (CONTRACT §17). */
export interface DuplicateInput {
  /** non-empty */
  id: string;
  /** default: null */
  patch?: TaskPatch | null;
}

export type ExecutionStatus = "cancelled" | "failed" | "lost" | "running" | "success" | "timed_out";

export type ExecutionType = "automatic" | "manual";

export interface ExecutionsInput {
  /** non-empty */
  taskId: string;
}

export interface ExtractStep {
  action: "extract";
  /** non-empty */
  name: string;
  /** non-empty */
  selector: string;
  /** default: null */
  attribute?: string | null;
  /** default: false */
  all?: boolean;
}

export interface ExtractionField {
  /** non-empty */
  name: string;
  /** non-empty */
  selector: string;
  /** default: "text" */
  type?: FieldType;
  /** default: null */
  attribute?: string | null;
  /** default: null */
  fields?: ExtractionField[] | null;
}

export interface ExtractionSchema {
  fields: ExtractionField[];
  /** default: null */
  baseSelector?: string | null;
}

/**
 * Failed tasks whose last attempt ended with the same error type and message pattern
 * (the message with its numbers, ids, quoted values and times replaced by placeholders).
 */
export interface FailureGroup {
  key: string;
  errorType: string | null;
  pattern: string;
  count: number;
  example: string | null;
}

export interface FailureGroups {
  groups: FailureGroup[];
  total: number;
}

export type FieldType = "attribute" | "html" | "list" | "nested" | "number" | "text";

export type GhlAction = "add_contact" | "add_tag" | "create_opportunity" | "send_sms" | "update_contact";

export interface GhlActionConfig {
  ghlAction: GhlAction;
  /** default: null */
  locationId?: string | null;
  /** default: null */
  contactId?: string | null;
  /** default: null */
  firstName?: string | null;
  /** default: null */
  lastName?: string | null;
  /** default: null */
  email?: string | null;
  /** default: null */
  phone?: string | null;
  /** default: null */
  tags?: string[] | null;
  /** default: null */
  message?: string | null;
  /** default: null */
  pipelineId?: string | null;
  /** default: null */
  pipelineStageId?: string | null;
  /** default: null */
  name?: string | null;
  /** default: null */
  monetaryValue?: number | null;
  /** default: null */
  status?: "abandoned" | "lost" | "open" | "won" | null;
  /** default: null */
  customFields?: GhlCustomField[] | null;
  /** matches /^[a-z0-9_.-]{1,60}$/; default: null */
  connection?: string | null;
}

export interface GhlCustomField {
  /** non-empty */
  id: string;
  /** default: null */
  field_value?: unknown;
}

/** No executor and no config: a group's status follows its subtasks' (CONTRACT §17). */
export interface GroupConfig {
}

/** ``tasks.createGroup`` (CONTRACT §17): the group and its subtasks, in one transaction. */
export interface GroupCreate {
  /** 1..200 chars */
  title: string;
  /** 1..100 items */
  subtasks: TaskCreate[];
  /** default: "fail_fast" */
  policy?: GroupPolicy;
  /** default: null */
  description?: string | null;
  /** non-empty; default: null */
  clientId?: string | null;
  /** at most 20 items; each item 1..50 chars; each item matches /^[A-Za-z0-9:_.-]+$/; default: null */
  tags?: string[] | null;
  /** each item non-empty; default: null */
  dependsOn?: string[] | null;
  /** default: null */
  metadata?: Record<string, unknown> | null;
  /** default: false */
  notifyOnComplete?: boolean;
  /** default: false */
  notifyOnFailure?: boolean;
  /** default: null */
  sourceWebhookId?: string | null;
  /** 1..200 chars; default: null */
  idempotencyKey?: string | null;
}

export type GroupPolicy = "all_settled" | "fail_fast";

export interface Health {
  status: "ok";
  database: "ok";
  scheduler: "running";
  version: string;
}

/** One hour: tasks created in it, and the attempts started in it by their status. */
export interface HourCounts {
  /** ISO 8601 timestamp with a time zone */
  start: string;
  created: number;
  attempts: Record<string, number>;
}

export type HttpMethod = "DELETE" | "GET" | "PATCH" | "POST" | "PUT";

export interface IdInput {
  /** non-empty */
  id: string;
}

export interface IdOutput {
  id: string;
}

export interface KeyCreate {
  /** 1..200 chars */
  name: string;
  role: Role;
  /** non-empty; default: null */
  clientId?: string | null;
  /** ISO 8601 timestamp with a time zone; default: null */
  expiresAt?: string | null;
}

export interface KeyCreated {
  id: string;
  name: string;
  role: Role;
  clientId: string | null;
  /** ISO 8601 timestamp with a time zone */
  expiresAt: string | null;
  key: string;
}

export interface KeyList {
}

/**
 * A running browser attempt as it is now (CONTRACT §17): the step running (its action,
 * never typed text), its index, and a recent frame of the page — a JPEG inlined as a
 * ``data:`` URL, kept in memory by the node running the attempt and never stored.
 */
export interface LiveView {
  step: string | null;
  stepIndex: number | null;
  screenshot: Artifact | null;
  /** ISO 8601 timestamp with a time zone */
  at: string;
}

export interface LiveViewInput {
  /** non-empty */
  executionId: string;
}

export type MessageKind = "notification" | "reminder" | "report" | "review.requested" | "task.completed" | "task.failed" | "task.stalled";

export interface MessageList {
  /** non-empty; default: null */
  taskId?: string | null;
  /** non-empty; default: null */
  webhookId?: string | null;
  /** default: null */
  status?: MessageStatus | null;
  /** >= 1; <= 200; default: 50 */
  limit?: number;
  /** default: null */
  cursor?: string | null;
}

export interface MessagePage {
  items: OutboundMessage[];
  nextCursor: string | null;
}

export type MessageStatus = "delivered" | "failed" | "queued" | "scheduled";

export type MissedRunPolicy = "run_once" | "skip";

export interface NavigateStep {
  action: "navigate";
  /** non-empty */
  url: string;
}

export interface NotificationConfig {
  /** non-empty */
  message: string;
  /** default: null */
  recipient?: string | null;
  /** default: null */
  subject?: string | null;
  /** default: null */
  webhookId?: string | null;
}

export interface OnChangeInput {
  /** default: null */
  id?: string | null;
  /** default: null */
  lastEventId?: string | null;
}

export interface OutboundMessage {
  id: string;
  webhookId: string;
  taskId: string | null;
  kind: MessageKind;
  recipient: string | null;
  subject: string | null;
  body: string;
  status: MessageStatus;
  /** ISO 8601 timestamp with a time zone */
  sendAt: string;
  attempts: number;
  lastError: string | null;
  responseStatus: number | null;
  /** ISO 8601 timestamp with a time zone */
  deliveredAt: string | null;
  /** ISO 8601 timestamp with a time zone */
  createdAt: string;
  /** ISO 8601 timestamp with a time zone */
  nextAttemptAt: string | null;
}

export type Priority = "high" | "low" | "normal" | "urgent";

export interface RateLimit {
  key: string;
  limit: number;
  periodSeconds: number;
  /** ISO 8601 timestamp with a time zone */
  createdAt: string;
  /** ISO 8601 timestamp with a time zone */
  updatedAt: string;
  queued: number;
}

export interface RateLimitDeleted {
  key: string;
}

export interface RateLimitKey {
  /** 1..200 chars */
  key: string;
}

export interface RateLimitList {
}

export interface RateLimitSet {
  /** 1..200 chars */
  key: string;
  /** >= 1; <= 100000 */
  limit: number;
  /** >= 1; <= 86400 */
  periodSeconds: number;
}

/** CONTRACT §17 ``tasks.reassign``. */
export interface ReassignInput {
  /** non-empty */
  id: string;
  assignedToBot: boolean;
  /** 1..200 chars; default: null */
  assignee?: string | null;
}

export interface ReminderConfig {
  /** non-empty */
  message: string;
  /** ISO 8601 timestamp with a time zone; default: null */
  remindAt?: string | null;
  /** >= 0; <= 31622400; default: null */
  delaySeconds?: number | null;
  /** default: null */
  recipient?: string | null;
  /** default: null */
  subject?: string | null;
  /** default: null */
  webhookId?: string | null;
}

export interface ReportConfig {
  reportType: ReportType;
  /** ISO 8601 timestamp with a time zone; default: null */
  dateFrom?: string | null;
  /** ISO 8601 timestamp with a time zone; default: null */
  dateTo?: string | null;
  /** default: false */
  notify?: boolean;
  /** default: null */
  webhookId?: string | null;
  /** non-empty; default: null */
  clientId?: string | null;
}

export type ReportType = "execution_stats" | "task_summary" | "webhook_activity";

/** ``tasks.retry``: ``patch`` changes the task first, as tasks.update (CONTRACT §17). */
export interface RetryInput {
  /** non-empty */
  id: string;
  /** default: null */
  patch?: TaskPatch | null;
}

export interface RetryManyInput {
  /** 1..500 items; each item non-empty */
  ids: string[];
}

/**
 * The task's own backoff: ``min(maxSeconds, baseSeconds * factor^(n-1))`` with jitter;
 * a field left out takes the server's default (RETRY_BASE_SECONDS, 3600, 2).
 */
export interface RetryPolicyInput {
  /** >= 0.1; <= 3600; default: null */
  baseSeconds?: number | null;
  /** >= 1; <= 86400; default: null */
  maxSeconds?: number | null;
  /** >= 1; <= 10; default: null */
  factor?: number | null;
}

export interface RetryPolicyOutput {
  baseSeconds: number | null;
  maxSeconds: number | null;
  factor: number | null;
}

export interface ReviewInput {
  /** non-empty */
  id: string;
  /** default: null */
  notes?: string | null;
}

export type Role = "admin" | "operator" | "reviewer" | "viewer";

export interface Schedule {
  id: string;
  name: string;
  cron: string;
  timezone: string;
  task: TaskCreate;
  enabled: boolean;
  missedRunPolicy: MissedRunPolicy;
  /** ISO 8601 timestamp with a time zone */
  nextRunAt: string | null;
  /** ISO 8601 timestamp with a time zone */
  lastRunAt: string | null;
  /** ISO 8601 timestamp with a time zone */
  createdAt: string;
}

export interface ScheduleCreate {
  /** 1..200 chars */
  name: string;
  /** 1..200 chars */
  cron: string;
  task: TaskCreate;
  /** 1..64 chars; default: "UTC" */
  timezone?: string;
  /** default: "run_once" */
  missedRunPolicy?: MissedRunPolicy;
}

export interface ScheduleList {
}

export interface SchedulePreview {
  /** each item ISO 8601 timestamp with a time zone */
  times: string[];
}

export interface SchedulePreviewInput {
  /** non-empty */
  cron: string;
  /** default: "UTC" */
  timezone?: string;
  /** >= 1; <= 50; default: 5 */
  count?: number;
}

export interface ScreenshotStep {
  action: "screenshot";
  /** default: null */
  name?: string | null;
  /** default: false */
  fullPage?: boolean;
}

export interface Series {
  hours: HourCounts[];
}

export interface SetAutorun {
  /** default: null */
  enabled?: boolean | null;
  /** default: null */
  pausedTypes?: TaskType[] | null;
}

export interface Stats {
  tasksByStatus: Record<string, number>;
  executed: number;
  succeeded: number;
  failed: number;
  running: number;
  queued: number;
  uptimeSeconds: number;
}

export interface StatsInput {
  /** default: null */
  clientId?: string | null;
}

export type Step = NavigateStep | ClickStep | TypeStep | WaitStep | ExtractStep | ScreenshotStep;

export interface StepRecord {
  index: number;
  action: string;
  status: "failed" | "skipped" | "success";
  /** ISO 8601 timestamp with a time zone */
  startedAt: string;
  durationMs: number;
  detail: JsonValue;
}

/**
 * Stands for the caller's key in subscription connectionParams only, until expiresAt
 * (at most 300 s): an API key never has to appear in a URL (CONTRACT §13).
 */
export interface SubscriptionToken {
  token: string;
  /** ISO 8601 timestamp with a time zone */
  expiresAt: string;
}

export interface Task {
  id: string;
  title: string;
  description: string | null;
  taskType: TaskType;
  executionType: ExecutionType;
  assignedToBot: boolean;
  requiresHumanReview: boolean;
  executionConfig: Record<string, JsonValue>;
  /** ISO 8601 timestamp with a time zone */
  scheduledFor: string | null;
  priority: Priority;
  maxRetries: number;
  timeoutSeconds: number;
  notifyOnComplete: boolean;
  notifyOnFailure: boolean;
  sourceWebhookId: string | null;
  idempotencyKey: string | null;
  dependsOn: string[];
  metadata: Record<string, JsonValue> | null;
  status: TaskStatus;
  statusReason: string | null;
  errorCount: number;
  lastError: string | null;
  result: JsonValue;
  resultSummary: string | null;
  reviewedBy: string | null;
  /** ISO 8601 timestamp with a time zone */
  reviewedAt: string | null;
  reviewNotes: string | null;
  /** ISO 8601 timestamp with a time zone */
  createdAt: string;
  /** ISO 8601 timestamp with a time zone */
  updatedAt: string;
  /** ISO 8601 timestamp with a time zone */
  queuedAt: string | null;
  /** ISO 8601 timestamp with a time zone */
  startedAt: string | null;
  /** ISO 8601 timestamp with a time zone */
  completedAt: string | null;
  /** ISO 8601 timestamp with a time zone */
  nextAttemptAt: string | null;
  /** ISO 8601 timestamp with a time zone */
  stalledSince: string | null;
  configChangedBy: string | null;
  clientId: string | null;
  callbackUrl: string | null;
  reviewExpiresInSeconds: number | null;
  approvalsRequired: number;
  approvals: Approval[];
  tags: string[];
  assignee: string | null;
  /** ISO 8601 timestamp with a time zone */
  deadline: string | null;
  concurrencyKey: string | null;
  concurrencyLimit: number | null;
  rateLimitKey: string | null;
  debounce: Debounced | null;
  retryPolicy: RetryPolicyOutput | null;
  progress: TaskProgress | null;
  parentId: string | null;
  children: ChildCounts | null;
  groupPolicy: GroupPolicy | null;
}

/** The fields of TaskCreate other than taskType and executionConfig. */
export interface TaskCreateCommon {
  /** 1..200 chars */
  title: string;
  /** default: null */
  description?: string | null;
  /** default: "automatic" */
  executionType?: ExecutionType;
  /** default: true */
  assignedToBot?: boolean;
  /** default: false */
  requiresHumanReview?: boolean;
  /** ISO 8601 timestamp with a time zone; default: null */
  scheduledFor?: string | null;
  /** default: "normal" */
  priority?: Priority;
  /** >= 0; <= 10; default: 3 */
  maxRetries?: number;
  /** >= 1; <= 86400; default: null */
  timeoutSeconds?: number | null;
  /** default: false */
  notifyOnComplete?: boolean;
  /** default: false */
  notifyOnFailure?: boolean;
  /** default: null */
  sourceWebhookId?: string | null;
  /** 1..200 chars; default: null */
  idempotencyKey?: string | null;
  /** each item non-empty; default: null */
  dependsOn?: string[] | null;
  /** default: null */
  metadata?: Record<string, unknown> | null;
  /** non-empty; default: null */
  clientId?: string | null;
  /** at most 20 items; each item 1..50 chars; each item matches /^[A-Za-z0-9:_.-]+$/; default: null */
  tags?: string[] | null;
  /** 1..200 chars; default: null */
  assignee?: string | null;
  /** ISO 8601 timestamp with a time zone; default: null */
  deadline?: string | null;
  /** >= 60; <= 2592000; default: null */
  reviewExpiresInSeconds?: number | null;
  /** >= 1; <= 5; default: 1 */
  approvalsRequired?: number;
  /** 1..200 chars; default: null */
  concurrencyKey?: string | null;
  /** >= 1; <= 1000; default: null */
  concurrencyLimit?: number | null;
  /** 1..200 chars; default: null */
  rateLimitKey?: string | null;
  /** default: null */
  debounce?: Debounce | null;
  /** default: null */
  retryPolicy?: RetryPolicyInput | null;
}

/** executionConfig by taskType. */
export interface ExecutionConfigByTaskType {
  api_call: ApiCallConfig;
  browser_automation: BrowserAutomationConfig;
  callback: CallbackConfig;
  data_extraction: DataExtractionConfig;
  ghl_action: GhlActionConfig;
  notification: NotificationConfig;
  reminder: ReminderConfig;
  report_generation: ReportConfig;
}

export type TaskCreate =
  | (TaskCreateCommon & { taskType: "api_call"; executionConfig: ApiCallConfig })
  | (TaskCreateCommon & { taskType: "browser_automation"; executionConfig: BrowserAutomationConfig })
  | (TaskCreateCommon & { taskType: "callback"; executionConfig: CallbackConfig })
  | (TaskCreateCommon & { taskType: "data_extraction"; executionConfig: DataExtractionConfig })
  | (TaskCreateCommon & { taskType: "ghl_action"; executionConfig: GhlActionConfig })
  | (TaskCreateCommon & { taskType: "notification"; executionConfig: NotificationConfig })
  | (TaskCreateCommon & { taskType: "reminder"; executionConfig: ReminderConfig })
  | (TaskCreateCommon & { taskType: "report_generation"; executionConfig: ReportConfig });

export interface TaskEvent {
  type: "created" | "deadline_missed" | "execution" | "progress" | "stalled" | "status";
  task: Task;
  execution: TaskExecution | null;
}

export interface TaskExecution {
  id: string;
  taskId: string;
  attemptNumber: number;
  triggeredBy: TriggeredBy;
  status: ExecutionStatus;
  /** ISO 8601 timestamp with a time zone */
  startedAt: string;
  /** ISO 8601 timestamp with a time zone */
  completedAt: string | null;
  durationMs: number | null;
  workerId: string;
  output: JsonValue;
  error: string | null;
  errorType: string | null;
  retryable: boolean | null;
  steps: StepRecord[];
  artifacts: Artifact[];
  browserSessionId: string | null;
  debugUrl: string | null;
  input: JsonValue;
}

export interface TaskGet {
  /** non-empty */
  id: string;
}

export interface TaskList {
  /** default: null */
  status?: TaskStatus | TaskStatus[] | null;
  /** default: null */
  taskType?: TaskType | null;
  /** 1..200 chars; default: null */
  search?: string | null;
  /** >= 1; <= 200; default: 50 */
  limit?: number;
  /** default: null */
  cursor?: string | null;
  /** default: null */
  stalled?: boolean | null;
  /** non-empty; default: null */
  dependsOn?: string | null;
  /** non-empty; default: null */
  errorGroup?: string | null;
  /** default: null */
  clientId?: string | null;
  /** at most 20 items; each item 1..50 chars; each item matches /^[A-Za-z0-9:_.-]+$/; default: null */
  tags?: string[] | null;
  /** 1..200 chars; default: null */
  assignee?: string | null;
  /** non-empty; default: null */
  parentId?: string | null;
  /** default: "newest" */
  order?: "newest" | "oldest";
  /** ISO 8601 timestamp with a time zone; default: null */
  createdFrom?: string | null;
  /** ISO 8601 timestamp with a time zone; default: null */
  createdBefore?: string | null;
}

export interface TaskPage {
  items: Task[];
  nextCursor: string | null;
}

export interface TaskPatch {
  /** 1..200 chars; default: null */
  title?: string | null;
  /** default: null */
  description?: string | null;
  /** default: null */
  executionConfig?: Record<string, unknown> | null;
  /** ISO 8601 timestamp with a time zone; default: null */
  scheduledFor?: string | null;
  /** default: null */
  priority?: Priority | null;
  /** >= 0; <= 10; default: null */
  maxRetries?: number | null;
  /** >= 1; <= 86400; default: null */
  timeoutSeconds?: number | null;
  /** default: null */
  metadata?: Record<string, unknown> | null;
  /** each item non-empty; default: null */
  dependsOn?: string[] | null;
  /** non-empty; default: null */
  clientId?: string | null;
  /** at most 20 items; each item 1..50 chars; each item matches /^[A-Za-z0-9:_.-]+$/; default: null */
  tags?: string[] | null;
  /** ISO 8601 timestamp with a time zone; default: null */
  deadline?: string | null;
}

/**
 * How far the running attempt is: ``done`` of ``total`` steps; ``message`` names the
 * step running now (its action and selector or URL, never typed text).
 */
export interface TaskProgress {
  done: number;
  total: number;
  message: string | null;
}

export type TaskStatus = "awaiting_review" | "cancelled" | "completed" | "failed" | "in_progress" | "pending" | "queued" | "rejected" | "scheduled";

export type TaskType = "api_call" | "browser_automation" | "callback" | "data_extraction" | "ghl_action" | "group" | "notification" | "reminder" | "report_generation";

export interface TaskUpdate {
  /** non-empty */
  id: string;
  patch: TaskPatch;
}

export interface Trigger {
  id: string;
  name: string;
  url: string;
  verify: Verify;
  clientId: string | null;
  enabled: boolean;
  template: TaskCreate;
  /** ISO 8601 timestamp with a time zone */
  createdAt: string;
  /** ISO 8601 timestamp with a time zone */
  lastReceivedAt: string | null;
}

export interface TriggerCreate {
  /** 1..200 chars */
  name: string;
  template: TaskCreate;
  /** non-empty; default: null */
  clientId?: string | null;
  /** default: "standard_webhooks" */
  verify?: Verify;
}

/** The answer to triggers.create and triggers.rotateSecret: the secret, this once. */
export interface TriggerCreated {
  id: string;
  name: string;
  url: string;
  verify: Verify;
  clientId: string | null;
  enabled: boolean;
  template: TaskCreate;
  /** ISO 8601 timestamp with a time zone */
  createdAt: string;
  /** ISO 8601 timestamp with a time zone */
  lastReceivedAt: string | null;
  secret: string;
}

export interface TriggerDelivery {
  /** ISO 8601 timestamp with a time zone */
  at: string;
  status: number;
  taskId: string | null;
  error: string | null;
}

export interface TriggerList {
}

export interface TriggerPatch {
  /** 1..200 chars; default: null */
  name?: string | null;
  /** default: null */
  template?: TaskCreate | null;
  /** default: null */
  enabled?: boolean | null;
}

export interface TriggerUpdate {
  /** non-empty */
  id: string;
  patch: TriggerPatch;
}

export type TriggeredBy = "approval" | "automation" | "callback" | "create" | "manual" | "recovery" | "retry" | "schedule";

export interface TypeStep {
  action: "type";
  /** non-empty */
  selector: string;
  text: string;
  /** default: false */
  pressEnter?: boolean;
  /** default: false */
  secret?: boolean;
}

export type Verify = "none" | "standard_webhooks";

export interface Viewport {
  /** >= 100; <= 7680 */
  width: number;
  /** >= 100; <= 4320 */
  height: number;
}

export interface WaitStep {
  action: "wait";
  /** default: null */
  selector?: string | null;
  /** >= 0; <= 600000; default: null */
  ms?: number | null;
  /** default: null */
  state?: "attached" | "detached" | "domcontentloaded" | "hidden" | "load" | "networkidle" | "visible" | null;
}

export interface Webhook {
  id: string;
  name: string;
  url: string;
  active: boolean;
  /** ISO 8601 timestamp with a time zone */
  createdAt: string;
  /** ISO 8601 timestamp with a time zone */
  lastDeliveryAt: string | null;
}

export interface WebhookCreate {
  /** 1..200 chars */
  name: string;
  /** 1..2000 chars */
  url: string;
  /** default: null */
  secret?: string | null;
}

/** The answer to webhooks.create: the only place the secret is ever shown. */
export interface WebhookCreated {
  id: string;
  name: string;
  url: string;
  active: boolean;
  /** ISO 8601 timestamp with a time zone */
  createdAt: string;
  /** ISO 8601 timestamp with a time zone */
  lastDeliveryAt: string | null;
  secret: string;
}

export interface WebhookList {
}

/** The caller's API key: its name (null when no keys are configured), role and permissions. */
export interface WhoAmI {
  name: string | null;
  role: Role;
  permissions: string[];
  clientId: string | null;
}

/** Every procedure, by path: `createTRPCClient<AppRouter>(...)`. */
export type AppRouter = TRPCBuiltRouter<
  { ctx: object; meta: object; errorShape: ErrandsErrorShape; transformer: false },
  {
    audit: {
      /** Audit entries filtered by targetId, actor, action and since; paged by cursor. */
      list: TRPCQueryProcedure<{ input: AuditList | undefined; output: AuditPage; meta: object }>;
    };
    clients: {
      /** No new tasks for this client from now on (CONFLICT on create). */
      archive: TRPCMutationProcedure<{ input: IdInput; output: Client; meta: object }>;
      /** A new client (`cli_…`); its slug from its name when not given. */
      create: TRPCMutationProcedure<{ input: ClientCreate; output: Client; meta: object }>;
      get: TRPCQueryProcedure<{ input: IdInput; output: Client; meta: object }>;
      /** Newest first, paged by cursor. */
      list: TRPCQueryProcedure<{ input: ClientList | undefined; output: ClientPage; meta: object }>;
      update: TRPCMutationProcedure<{ input: ClientUpdate; output: Client; meta: object }>;
    };
    connections: {
      /** Named credentials, sealed at rest; every value reads "********". */
      create: TRPCMutationProcedure<{ input: ConnectionCreate; output: Connection; meta: object }>;
      /** CONFLICT naming the tasks and schedules that use it, unless `force`. */
      delete: TRPCMutationProcedure<{ input: ConnectionDelete; output: IdOutput; meta: object }>;
      get: TRPCQueryProcedure<{ input: IdInput; output: Connection; meta: object }>;
      /** By name; values masked. */
      list: TRPCQueryProcedure<{ input: ConnectionList | undefined; output: Connection[]; meta: object }>;
      /** `values` replaces them all ("********" keeps that one); version +1 when they change. */
      update: TRPCMutationProcedure<{ input: ConnectionUpdate; output: Connection; meta: object }>;
    };
    keys: {
      /** A new API key, shown this once (stored as a hash). */
      create: TRPCMutationProcedure<{ input: KeyCreate; output: KeyCreated; meta: object }>;
      /** Every key made with keys.create, oldest first, never the key itself. */
      list: TRPCQueryProcedure<{ input: KeyList | undefined; output: ApiKeyInfo[]; meta: object }>;
      /** Refused from now on, on every node within 2 s. */
      revoke: TRPCMutationProcedure<{ input: IdInput; output: ApiKeyInfo; meta: object }>;
    };
    messages: {
      /** Outbound messages filtered by taskId, webhookId and status. */
      list: TRPCQueryProcedure<{ input: MessageList | undefined; output: MessagePage; meta: object }>;
    };
    rateLimits: {
      /** The key is unlimited from now on. */
      delete: TRPCMutationProcedure<{ input: RateLimitKey; output: RateLimitDeleted; meta: object }>;
      /** Every declared rate limit, by key. */
      list: TRPCQueryProcedure<{ input: RateLimitList | undefined; output: RateLimit[]; meta: object }>;
      /** At most `limit` attempt starts of tasks with this `rateLimitKey` in any */
      set: TRPCMutationProcedure<{ input: RateLimitSet; output: RateLimit; meta: object }>;
    };
    schedules: {
      /** A schedule; each cron slot creates one task from `task`. */
      create: TRPCMutationProcedure<{ input: ScheduleCreate; output: Schedule; meta: object }>;
      delete: TRPCMutationProcedure<{ input: IdInput; output: Schedule; meta: object }>;
      list: TRPCQueryProcedure<{ input: ScheduleList | undefined; output: Schedule[]; meta: object }>;
      pause: TRPCMutationProcedure<{ input: IdInput; output: Schedule; meta: object }>;
      /** The next `count` times a cron expression fires in `timezone`. */
      preview: TRPCQueryProcedure<{ input: SchedulePreviewInput; output: SchedulePreview; meta: object }>;
      /** Enable again from the next slot after now (slots while paused are skipped). */
      resume: TRPCMutationProcedure<{ input: IdInput; output: Schedule; meta: object }>;
    };
    system: {
      /** The autorun switch: whether attempts start, and the task types paused. */
      autorun: TRPCQueryProcedure<{ input: void; output: Autorun; meta: object }>;
      /** ok when the database answers and the scheduler runs; SERVICE_UNAVAILABLE if not. */
      health: TRPCQueryProcedure<{ input: void; output: Health; meta: object }>;
      /** Tasks created and attempts started (by status) per hour, the last 24 hours (a key */
      series: TRPCQueryProcedure<{ input: void; output: Series; meta: object }>;
      /** Stop or resume starting attempts, on every node within 2 s (running ones finish). */
      setAutorun: TRPCMutationProcedure<{ input: SetAutorun | undefined; output: Autorun; meta: object }>;
      /** Counts of tasks and attempts; with `clientId`, that client's only. */
      stats: TRPCQueryProcedure<{ input: StatsInput | undefined; output: Stats; meta: object }>;
      /** A token for subscription connectionParams only, valid 300 s, with this key's role: */
      subscriptionToken: TRPCMutationProcedure<{ input: void; output: SubscriptionToken; meta: object }>;
      /** The caller's key name and role, and what that role may do (for the console). */
      whoami: TRPCQueryProcedure<{ input: void; output: WhoAmI; meta: object }>;
    };
    tasks: {
      /** A single-use link to a page where `reviewer` approves or rejects the task */
      approvalLink: TRPCMutationProcedure<{ input: ApprovalLinkInput; output: ApprovalLink; meta: object }>;
      approve: TRPCMutationProcedure<{ input: ReviewInput; output: Task; meta: object }>;
      /** Approve each task; per-id results in input order. */
      approveMany: TRPCMutationProcedure<{ input: ApproveManyInput; output: BulkResult; meta: object }>;
      cancel: TRPCMutationProcedure<{ input: CancelInput; output: Task; meta: object }>;
      /** Cancel each task; per-id results in input order. */
      cancelMany: TRPCMutationProcedure<{ input: CancelManyInput; output: BulkResult; meta: object }>;
      /** A person did a pending task: completed with `result` as its output. */
      complete: TRPCMutationProcedure<{ input: CompleteInput; output: Task; meta: object }>;
      /** Create a task; with an idempotencyKey already used, return that task. */
      create: TRPCMutationProcedure<{ input: TaskCreate; output: Task; meta: object }>;
      /** A group of 1..100 subtasks, created with them in one transaction: it completes */
      createGroup: TRPCMutationProcedure<{ input: GroupCreate; output: Task; meta: object }>;
      /** A new task with the same fields (`metadata.duplicateOf`), changed by `patch`. */
      duplicate: TRPCMutationProcedure<{ input: DuplicateInput; output: Task; meta: object }>;
      /** Queue a pending or scheduled task now; returns before the attempt ends. */
      execute: TRPCMutationProcedure<{ input: TaskGet; output: Task; meta: object }>;
      /** Every attempt of a task, by attemptNumber. */
      executions: TRPCQueryProcedure<{ input: ExecutionsInput; output: TaskExecution[]; meta: object }>;
      /** Failed tasks grouped by their last error's type and message pattern, largest */
      failureGroups: TRPCQueryProcedure<{ input: void; output: FailureGroups; meta: object }>;
      get: TRPCQueryProcedure<{ input: TaskGet; output: Task; meta: object }>;
      /** Newest first, paged by cursor. */
      list: TRPCQueryProcedure<{ input: TaskList | undefined; output: TaskPage; meta: object }>;
      /** A running browser attempt now: its step and a frame of its page, about a second */
      liveView: TRPCQueryProcedure<{ input: LiveViewInput; output: LiveView; meta: object }>;
      /** Task events (all tasks, or one with `id`), resumable with `lastEventId`. */
      onChange: TRPCSubscriptionProcedure<{ input: OnChangeInput | undefined; output: AsyncIterable<Tracked<TaskEvent>>; meta: object }>;
      /** To the bot (placed as on create) or to a person (pending, with that assignee). */
      reassign: TRPCMutationProcedure<{ input: ReassignInput; output: Task; meta: object }>;
      reject: TRPCMutationProcedure<{ input: ReviewInput; output: Task; meta: object }>;
      /** A failed task again; `patch` changes it first, as tasks.update would. */
      retry: TRPCMutationProcedure<{ input: RetryInput; output: Task; meta: object }>;
      /** Retry each failed task; per-id results in input order. */
      retryMany: TRPCMutationProcedure<{ input: RetryManyInput; output: BulkResult; meta: object }>;
      /** Edit a task before it runs (operator; a reviewer only while awaiting_review). */
      update: TRPCMutationProcedure<{ input: TaskUpdate; output: Task; meta: object }>;
    };
    triggers: {
      /** A trigger: each verified POST to its url creates a task from `template`; the */
      create: TRPCMutationProcedure<{ input: TriggerCreate; output: TriggerCreated; meta: object }>;
      delete: TRPCMutationProcedure<{ input: IdInput; output: IdOutput; meta: object }>;
      /** The last calls the trigger received, newest first. */
      deliveries: TRPCQueryProcedure<{ input: DeliveriesInput; output: TriggerDelivery[]; meta: object }>;
      get: TRPCQueryProcedure<{ input: IdInput; output: Trigger; meta: object }>;
      /** Every trigger, oldest first, without secrets. */
      list: TRPCQueryProcedure<{ input: TriggerList | undefined; output: Trigger[]; meta: object }>;
      /** A new signing secret, shown this once; the old one stops working at once. */
      rotateSecret: TRPCMutationProcedure<{ input: IdInput; output: TriggerCreated; meta: object }>;
      /** Rename, replace the template (a "********" keeps a stored secret), enable or */
      update: TRPCMutationProcedure<{ input: TriggerUpdate; output: Trigger; meta: object }>;
    };
    webhooks: {
      /** Register a webhook; the answer shows its signing secret, this once. */
      create: TRPCMutationProcedure<{ input: WebhookCreate; output: WebhookCreated; meta: object }>;
      /** Remove a webhook; its undelivered messages will fail. */
      delete: TRPCMutationProcedure<{ input: IdInput; output: IdOutput; meta: object }>;
      /** Every webhook, oldest first, without secrets. */
      list: TRPCQueryProcedure<{ input: WebhookList | undefined; output: Webhook[]; meta: object }>;
    };
  }
>;

/** Inputs by path, e.g. `RouterInputs['tasks']['list']`. */
export type RouterInputs = inferRouterInputs<AppRouter>;
/** Outputs by path (as JSON gives them), e.g. `RouterOutputs['tasks']['get']`. */
export type RouterOutputs = inferRouterOutputs<AppRouter>;
