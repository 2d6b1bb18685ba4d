import assert from 'node:assert/strict';
import test from 'node:test';
import { Registry } from './registry.js';

test('the generic registry: register, look up, list in order, refuse duplicates and unknown names by message', () => {
  const r = new Registry<{ name: string; value: number }>('widget');
  r.register({ name: 'b', value: 2 });
  r.register({ name: 'a', value: 1 });
  assert.equal(r.get('a').value, 1);
  assert.deepEqual(r.names(), ['b', 'a']);
  assert.deepEqual(r.list().map((d) => d.value), [2, 1]);
  assert.equal(r.has('c'), false);
  assert.throws(() => r.register({ name: 'a', value: 3 }), { message: "widget 'a' is already registered" });
  assert.throws(() => r.get('c'), { message: "unknown widget 'c'; known: b, a" });
  assert.equal(r.unregister('b'), true);
  assert.equal(r.unregister('b'), false);
  assert.deepEqual(r.names(), ['a']);
});
