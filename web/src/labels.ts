import type { Task, TaskCreate, TaskStatus } from './errands';

export { TASK_TYPES, TYPE_LABELS } from './taskTypes';
import { TASK_TYPES } from './taskTypes';
// The types a person files with tasks.create (a group is made by tasks.createGroup, and no
// bot runs it: nothing to pause either).
export type CreatableType = TaskCreate['taskType'];
export const CREATABLE_TYPES = TASK_TYPES.filter((t): t is CreatableType => t !== 'group');

export const STATUSES: TaskStatus[] = [
  'pending', 'awaiting_review', 'scheduled', 'queued', 'in_progress', 'completed', 'failed',
  'cancelled', 'rejected',
];
export const OPEN_STATUSES: TaskStatus[] = ['pending', 'awaiting_review', 'scheduled', 'queued', 'in_progress'];

/** The later of two states of a task: a mutation's answer may arrive after the live events
 * that followed it (an attempt can end within milliseconds), and must not undo them. */
export function latest(current: Task | undefined, incoming: Task): Task {
  if (!current || current.id !== incoming.id) return incoming;
  return Date.parse(incoming.updatedAt) >= Date.parse(current.updatedAt) ? incoming : current;
}
