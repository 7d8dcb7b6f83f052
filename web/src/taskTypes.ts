// The task types and their labels, generated from schemas/configs.py TASK_TYPES.
// DO NOT EDIT. Regenerate with `scripts/regen`.
import type { TaskType } from './errands';

export const TASK_TYPES: TaskType[] = [
  'api_call',
  'browser_automation',
  'callback',
  'data_extraction',
  'ghl_action',
  'group',
  'notification',
  'reminder',
  'report_generation',
];
export const TYPE_LABELS: Record<TaskType, string> = {
  api_call: 'API call',
  browser_automation: 'Browser automation',
  callback: 'Callback',
  data_extraction: 'Data extraction',
  ghl_action: 'GoHighLevel action',
  group: 'Group',
  notification: 'Notification',
  reminder: 'Reminder',
  report_generation: 'Report',
};
