// expect: TS2353 'priority' does not exist in type 'TaskList'
import { makeClient } from './sample_client';
const errands = makeClient('http://127.0.0.1:1/trpc', 'key');
void errands.tasks.list.query({ priority: 'high' });
