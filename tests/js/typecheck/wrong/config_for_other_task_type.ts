// expect: TS2345 'url' does not exist in type 'ApiCallConfig'
import { makeClient } from './sample_client';
const errands = makeClient('http://127.0.0.1:1/trpc', 'key');
void errands.tasks.create.mutate({
  title: 'scrape',
  taskType: 'api_call',
  executionConfig: { url: 'https://example.com', schema: { fields: [] } },
});
