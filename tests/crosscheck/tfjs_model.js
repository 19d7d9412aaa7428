// Rebuilds a Keras model from its model_config with TF.js (@tensorflow/tfjs
// 4.22, pure-JS CPU backend: a real implementation of Keras 2's layers),
// loads weights in Keras's load order and predicts. Reads JSON on stdin:
// {config: <model_config object>, weights: [{shape, data}...], input: {shape,
// data}}; writes {shape, data} of the prediction on stdout.
// TF.js comes from $TFJS_DIR/node_modules (fixtures/keras, where
// scripts/setup.sh --crosscheck installs it).
const path = require('path');
const {createRequire} = require('module');
const tf = createRequire(path.join(process.env.TFJS_DIR, 'package.json'))('@tensorflow/tfjs');

async function main() {
  await tf.setBackend('cpu');
  let text = '';
  for await (const chunk of process.stdin) text += chunk;
  const job = JSON.parse(text);
  const model = await tf.models.modelFromJSON({modelTopology: job.config});
  model.setWeights(job.weights.map(w => tf.tensor(w.data, w.shape, 'float32')));
  const y = model.predict(tf.tensor(job.input.data, job.input.shape, 'float32'));
  process.stdout.write(JSON.stringify({shape: y.shape, data: Array.from(await y.data())}));
}
main().catch(e => { console.error(e); process.exit(1); });
