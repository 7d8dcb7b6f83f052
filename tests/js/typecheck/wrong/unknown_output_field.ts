// expect: TS2339 Property 'ownerName' does not exist on type
import { makeClient } from './sample_client';
const errands = makeClient('http://127.0.0.1:1/trpc', 'key');
export async function f(): Promise<unknown> {
  const task = await errands.tasks.get.query({ id: 't_1' });
  return task.ownerName;
}
