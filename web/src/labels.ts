import type { Task, TaskStatus, TaskType } from './errands';

export const STATUSES: TaskStatus[] = [
  'pending', 'awaiting_review', 'scheduled', 'queued', 'in_progress', 'completed', 'failed',
  'cancelled', 'rejected',
];
export const TASK_TYPES: TaskType[] = [
  'api_call', 'browser_automation', 'data_extraction', 'ghl_action', 'notification', 'reminder',
  'report_generation', 'callback',
];
export const TYPE_LABELS: Record<TaskType, string> = {
  api_call: 'API call',
  browser_automation: 'Browser automation',
  data_extraction: 'Data extraction',
  ghl_action: 'GoHighLevel action',
  notification: 'Notification',
  reminder: 'Reminder',
  report_generation: 'Report',
  callback: 'Callback',
};
export const OPEN_STATUSES: TaskStatus[] = ['pending', 'awaiting_review', 'scheduled', 'queued', 'in_progress'];

/** The later of two states of a task: a mutation's answer may arrive after the live events
 * that followed it (an attempt can end within milliseconds), and must not undo them. */
export function latest(current: Task | undefined, incoming: Task): Task {
  if (!current || current.id !== incoming.id) return incoming;
  return Date.parse(incoming.updatedAt) >= Date.parse(current.updatedAt) ? incoming : current;
}
