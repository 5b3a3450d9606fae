// kafkajs against kappa: admin, producer (with gzip), a consumer group.
// Prints PASS:/FAIL: lines for tests/run.sh; exits non-zero on failure.
const { Kafka, CompressionTypes, logLevel } = require('kafkajs');

const broker = process.argv[2];
const kafka = new Kafka({ clientId: 'kappa-it', brokers: [broker], logLevel: logLevel.NOTHING,
                          retry: { retries: 3 } });
let failed = 0;
const pass = (n) => console.log(`PASS: kafkajs ${n}`);
const fail = (n, why) => { failed++; console.log(`FAIL: kafkajs ${n}: ${why}`); };

async function step(name, fn) {
  try { await fn(); pass(name); } catch (e) { fail(name, e && e.stack ? e.stack.split('\n')[0] : e); }
}

(async () => {
  const admin = kafka.admin();
  await admin.connect();
  await step('admin create topic', async () => {
    const ok = await admin.createTopics({ topics: [{ topic: 'js', numPartitions: 2 }] });
    if (!ok) throw new Error('createTopics returned false');
    const md = await admin.fetchTopicMetadata({ topics: ['js'] });
    if (md.topics[0].partitions.length !== 2) throw new Error('expected 2 partitions');
  });
  const producer = kafka.producer();
  await producer.connect();
  const N = 200;
  await step('produce acks=all with gzip', async () => {
    const messages = [];
    for (let i = 0; i < N; i++) messages.push({ key: `k${i % 7}`, value: `v${i}` });
    const res = await producer.send({ topic: 'js', acks: -1, compression: CompressionTypes.GZIP,
                                      messages });
    if (!res.every((r) => r.errorCode === 0)) throw new Error(JSON.stringify(res));
  });
  await step('consumer group reads everything', async () => {
    const consumer = kafka.consumer({ groupId: 'js-group', sessionTimeout: 10000 });
    await consumer.connect();
    await consumer.subscribe({ topic: 'js', fromBeginning: true });
    const seen = new Set();
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${seen.size} of ${N} within 20s`)), 20000);
      consumer.run({
        eachMessage: async ({ message }) => {
          seen.add(message.value.toString());
          if (seen.size === N) { clearTimeout(timer); resolve(); }
        },
      });
    });
    await consumer.disconnect();
  });
  await step('admin fetch offsets and describe configs', async () => {
    const offs = await admin.fetchOffsets({ groupId: 'js-group', topics: ['js'] });
    const total = offs[0].partitions.reduce((a, p) => a + Number(p.offset), 0);
    if (total !== N) throw new Error(`committed offsets sum to ${total}, expected ${N}`);
    const cfg = await admin.describeConfigs({ resources: [{ type: 2, name: 'js' }],
                                              includeSynonyms: false });
    const names = cfg.resources[0].configEntries.map((e) => e.configName);
    if (!names.includes('retention.ms')) throw new Error('retention.ms missing');
  });
  await step('admin delete topic', async () => {
    await admin.deleteTopics({ topics: ['js'] });
    const topics = await admin.listTopics();
    if (topics.includes('js')) throw new Error('still listed');
  });
  await producer.disconnect();
  await admin.disconnect();
  process.exit(failed ? 1 : 0);
})().catch((e) => { console.log(`FAIL: kafkajs run: ${e}`); process.exit(1); });
