// A web app's view of Errands: every call typed by the generated AppRouter (./errands, written
// by `scripts/gen_client --ts`). tests/e2e/test_typed_client.py type-checks this file with
// `tsc --strict` and runs its JavaScript against the real server.
import {
  createTRPCClient,
  httpBatchLink,
  httpSubscriptionLink,
  splitLink,
  TRPCClientError,
} from '@trpc/client';
import type { AppRouter, RouterOutputs, Task, TaskCreate, TaskEvent, Tracked } from './errands';

export function makeClient(url: string, apiKey: string, EventSourceImpl?: typeof EventSource) {
  return createTRPCClient<AppRouter>({
    links: [
      splitLink({
        condition: (op) => op.type === 'subscription',
        true: httpSubscriptionLink({
          url,
          EventSource: EventSourceImpl,
          connectionParams: { authorization: `Bearer ${apiKey}` },
        }),
        false: httpBatchLink({ url, headers: { authorization: `Bearer ${apiKey}` } }),
      }),
    ],
  });
}

export type Errands = ReturnType<typeof makeClient>;

/** A task that waits (manual, not run by a bot) so that nothing happens behind our back. */
function manual(title: string, extra: Partial<TaskCreate> = {}): TaskCreate {
  return {
    ...extra,
    title,
    taskType: 'api_call',
    executionType: 'manual',
    executionConfig: { apiEndpoint: 'http://127.0.0.1:9/unused', apiMethod: 'POST', timeoutMs: 1000 },
  };
}

/** The tRPC code of a failed call (typed by the generated error shape), or null. */
async function codeOf(promise: Promise<unknown>): Promise<string | null> {
  try {
    await promise;
    return null;
  } catch (err) {
    if (err instanceof TRPCClientError) {
      const data = (err as TRPCClientError<AppRouter>).data;
      return data?.code ?? null;
    }
    throw err;
  }
}

export interface Summary {
  health: RouterOutputs['system']['health']['status'];
  uptimeIsNumber: boolean;
  created: Task['status'];
  fetchedTitle: string;
  listed: number;
  executed: Task['status'];
  approved: Task['status'];
  rejected: Task['status'];
  cancelled: Task['status'];
  retryCode: string | null;
  attempts: number;
  reminderType: Task['taskType'];
  secretPrefix: string;
  webhooks: number;
  messagesIsList: boolean;
  scheduleEnabled: boolean[];
  scheduleTimezone: string;
  schedules: number;
  webhookDeleted: boolean;
  events: { id: string; type: TaskEvent['type']; taskId: string }[];
  badRequest: { code: string | null; paths: (string | number)[][] };
  workflows: {
    updatedTitle: string;
    completed: Task['status'];
    completedBy: string;
    approveMany: boolean[];
    approveManyCodes: (string | null)[];
    cancelMany: boolean[];
    retryManyCode: string | null;
    auditActions: string[];
    autorun: RouterOutputs['system']['autorun'];
    autorunAfter: boolean;
    previewTimes: number;
  };
}

/** Calls every procedure once; returns what it saw. */
export async function run(errands: Errands): Promise<Summary> {
  const health = await errands.system.health.query();
  const stats = await errands.system.stats.query();

  const seen: Tracked<TaskEvent>[] = [];
  let subscribed!: () => void;
  const ready = new Promise<void>((resolve) => (subscribed = resolve));
  const subscription = errands.tasks.onChange.subscribe(undefined, {
    onStarted: () => subscribed(),
    onData: (event) => seen.push(event),
  });
  await ready;

  const created = await errands.tasks.create.mutate(manual('sample: pending'));
  const fetched = await errands.tasks.get.query({ id: created.id });
  const page = await errands.tasks.list.query({ status: ['pending', 'awaiting_review'], limit: 10 });
  const executed = await errands.tasks.execute.mutate({ id: created.id });
  const review = await errands.tasks.create.mutate(manual('sample: review', { requiresHumanReview: true }));
  const approved = await errands.tasks.approve.mutate({ id: review.id, notes: 'looks fine' });
  const second = await errands.tasks.create.mutate(manual('sample: reject', { requiresHumanReview: true }));
  const rejected = await errands.tasks.reject.mutate({ id: second.id });
  const cancelled = await errands.tasks.cancel.mutate({ id: approved.id, reason: 'not needed' });
  const retryCode = await codeOf(errands.tasks.retry.mutate({ id: cancelled.id }));
  const attempts = await errands.tasks.executions.query({ taskId: executed.id });
  const hook = await errands.webhooks.create.mutate({ name: 'sample', url: 'http://127.0.0.1:9/hook' });
  const hooks = await errands.webhooks.list.query();
  const reminder = await errands.tasks.create.mutate({
    title: 'sample: reminder',
    taskType: 'reminder',
    executionType: 'manual',
    executionConfig: { message: 'call back', delaySeconds: 3600, webhookId: hook.id },
  });
  const messages = await errands.messages.list.query({ webhookId: hook.id, limit: 5 });
  const schedule = await errands.schedules.create.mutate({
    name: 'nightly',
    cron: '0 3 * * *',
    timezone: 'Europe/Paris',
    task: manual('sample: nightly'),
  });
  const schedules = await errands.schedules.list.query();
  const paused = await errands.schedules.pause.mutate({ id: schedule.id });
  const resumed = await errands.schedules.resume.mutate({ id: schedule.id });
  await errands.schedules.delete.mutate({ id: schedule.id });
  const deleted = await errands.webhooks.delete.mutate({ id: hook.id });

  let badRequest: Summary['badRequest'] = { code: null, paths: [] };
  try {
    // Right type, wrong value: maxRetries is 0..10, which only the server checks.
    await errands.tasks.create.mutate(manual('sample: bad', { maxRetries: 99 }));
  } catch (err) {
    if (!(err instanceof TRPCClientError)) throw err;
    const data = (err as TRPCClientError<AppRouter>).data;
    badRequest = { code: data?.code ?? null, paths: (data?.issues ?? []).map((i) => i.path) };
  }

  const deadline = Date.now() + 10_000;
  const createdEvents = () => seen.filter((e) => e.data.type === 'created').length;
  while (createdEvents() < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  subscription.unsubscribe();

  // Workflows and governance (CONTRACT §10)
  const editable = await errands.tasks.create.mutate(manual('sample: edit me'));
  const updated = await errands.tasks.update.mutate({ id: editable.id, patch: { title: 'sample: edited', priority: 'high' } });
  const completed = await errands.tasks.complete.mutate({ id: editable.id, result: { done: true }, notes: 'by hand' });
  const [byHand] = await errands.tasks.executions.query({ taskId: editable.id });
  const toApprove = await errands.tasks.create.mutate(manual('sample: bulk', { requiresHumanReview: true }));
  const approveMany = await errands.tasks.approveMany.mutate({ ids: [toApprove.id, 'tsk_missing'], notes: 'bulk' });
  const cancelMany = await errands.tasks.cancelMany.mutate({ ids: [toApprove.id], reason: 'done with it' });
  const retryMany = await errands.tasks.retryMany.mutate({ ids: [toApprove.id] });
  const auditPage = await errands.audit.list.query({ targetId: editable.id, limit: 10 });
  const autorun = await errands.system.setAutorun.mutate({ pausedTypes: ['ghl_action'] });
  const autorunAfter = await errands.system.setAutorun.mutate({ enabled: true, pausedTypes: [] });
  const readBack = await errands.system.autorun.query();
  const preview = await errands.schedules.preview.query({ cron: '0 9 * * 1', timezone: 'Europe/Paris', count: 2 });

  return {
    health: health.status,
    uptimeIsNumber: typeof stats.uptimeSeconds === 'number',
    created: created.status,
    fetchedTitle: fetched.title,
    listed: page.items.length,
    executed: executed.status,
    approved: approved.status,
    rejected: rejected.status,
    cancelled: cancelled.status,
    retryCode,
    attempts: attempts.length,
    reminderType: reminder.taskType,
    secretPrefix: hook.secret.slice(0, 6),
    webhooks: hooks.length,
    messagesIsList: Array.isArray(messages.items),
    scheduleEnabled: [schedule.enabled, paused.enabled, resumed.enabled],
    scheduleTimezone: schedule.timezone,
    schedules: schedules.length,
    webhookDeleted: deleted.id === hook.id,
    events: seen.map((e) => ({ id: e.id, type: e.data.type, taskId: e.data.task.id })),
    badRequest,
    workflows: {
      updatedTitle: updated.title,
      completed: completed.status,
      completedBy: byHand?.workerId ?? '',
      approveMany: approveMany.results.map((r) => r.ok),
      approveManyCodes: approveMany.results.map((r) => r.error?.code ?? null),
      cancelMany: cancelMany.results.map((r) => r.ok),
      retryManyCode: retryMany.results[0]?.error?.code ?? null,
      auditActions: auditPage.items.map((e) => e.action),
      autorun,
      autorunAfter: autorunAfter.enabled && readBack.pausedTypes.length === 0,
      previewTimes: preview.times.length,
    },
  };
}
