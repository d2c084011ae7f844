import onnxPkg from 'onnx-proto';
import fs from 'fs';
const { onnx } = onnxPkg;
const m = onnx.ModelProto.decode(fs.readFileSync(process.argv[2]));
const inits = new Set(m.graph.initializer.map(i=>i.name));
console.log('inputs', m.graph.input.map(i=>i.name+':'+JSON.stringify(i.type.tensorType.shape.dim.map(d=>d.dimParam||Number(d.dimValue)))));
console.log('outputs', m.graph.output.map(i=>i.name));
for (const n of m.graph.node) {
  console.log(n.opType.padEnd(18), n.name.padEnd(60), n.input.map(x=>inits.has(x)?'@'+x:x).join(','), '->', n.output.join(','), n.attribute.map(a=>a.name+'='+(a.i!=null&&Number(a.i)||a.f||a.ints?.join('/')||'')).join(' '));
}
