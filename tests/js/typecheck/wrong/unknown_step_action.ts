// expect: TS2322 Type '"hover"' is not assignable
import { makeClient } from './sample_client';
const errands = makeClient('http://127.0.0.1:1/trpc', 'key');
void errands.tasks.create.mutate({
  title: 'browse',
  taskType: 'browser_automation',
  executionConfig: { steps: [{ action: 'hover', selector: '#a' }] },
});
