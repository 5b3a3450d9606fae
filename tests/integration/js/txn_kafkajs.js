// kafkajs transactions against kappa: a committed and an aborted transaction,
// offsets sent with a transaction, and a read_committed consumer that sees
// only the committed records.  Prints PASS:/FAIL: lines for tests/run.sh.
const { Kafka, logLevel } = require('kafkajs');

const broker = process.argv[2];
const kafka = new Kafka({ clientId: 'kappa-txn-it', brokers: [broker],
                          logLevel: logLevel.NOTHING, retry: { retries: 5 } });
let failed = 0;
const pass = (n) => console.log(`PASS: kafkajs txn ${n}`);
const fail = (n, why) => { failed++; console.log(`FAIL: kafkajs txn ${n}: ${why}`); };

async function step(name, fn) {
  try { await fn(); pass(name); } catch (e) { fail(name, e && e.stack ? e.stack.split('\n')[0] : e); }
}

async function readAll(topic, groupId, want, readUncommitted) {
  const consumer = kafka.consumer({ groupId, readUncommitted, sessionTimeout: 10000 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const seen = [];
  await new Promise((resolve) => {
    const timer = setTimeout(resolve, 8000);
    consumer.run({
      eachMessage: async ({ message }) => {
        seen.push(message.value.toString());
        if (seen.length >= want) { clearTimeout(timer); setTimeout(resolve, 500); }
      },
    });
  });
  await consumer.disconnect();
  return seen;
}

(async () => {
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: 'js-txn', numPartitions: 2 },
                                      { topic: 'js-txn-in', numPartitions: 1 }] });
  await admin.disconnect();
  const producer = kafka.producer({ transactionalId: 'js-txn-producer', idempotent: true,
                                    maxInFlightRequests: 1 });
  await producer.connect();
  await step('a committed transaction', async () => {
    const txn = await producer.transaction();
    await txn.send({ topic: 'js-txn', messages: [{ value: 'c1' }, { value: 'c2' }] });
    await txn.commit();
  });
  await step('an aborted transaction', async () => {
    const txn = await producer.transaction();
    await txn.send({ topic: 'js-txn', messages: [{ value: 'a1' }, { value: 'a2' }] });
    await txn.abort();
  });
  await step('a transaction with offsets (sendOffsets)', async () => {
    const txn = await producer.transaction();
    await txn.send({ topic: 'js-txn', messages: [{ value: 'c3' }] });
    await txn.sendOffsets({ consumerGroupId: 'js-txn-group',
                            topics: [{ topic: 'js-txn-in', partitions: [{ partition: 0, offset: '5' }] }] });
    await txn.commit();
  });
  await producer.disconnect();
  await step('read_committed sees only the committed records', async () => {
    const seen = (await readAll('js-txn', 'js-txn-rc', 3, false)).sort();
    if (JSON.stringify(seen) !== JSON.stringify(['c1', 'c2', 'c3']))
      throw new Error(`read ${JSON.stringify(seen)}`);
  });
  await step('read_uncommitted also sees the aborted ones', async () => {
    const seen = (await readAll('js-txn', 'js-txn-ru', 5, true)).sort();
    if (!seen.includes('a1') || !seen.includes('a2')) throw new Error(`read ${JSON.stringify(seen)}`);
  });
  await step('the offsets sent with the transaction are committed', async () => {
    const a = kafka.admin();
    await a.connect();
    const offs = await a.fetchOffsets({ groupId: 'js-txn-group', topics: ['js-txn-in'] });
    await a.disconnect();
    const o = offs[0].partitions.find((p) => p.partition === 0);
    if (!o || o.offset !== '5') throw new Error(JSON.stringify(offs));
  });
  process.exit(failed ? 1 : 0);
})().catch((e) => { console.log(`FAIL: kafkajs txn: ${e.stack}`); process.exit(1); });
