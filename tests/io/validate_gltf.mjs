// Validate a glTF/GLB file with the Khronos glTF validator, offline, and print its JSON report.
//
// usage: node tests/io/validate_gltf.mjs <file.glb|file.gltf> [path/to/node_modules/gltf-validator]
// The validator defaults to <repo>/.tools/node_modules/gltf-validator (installed by `make test`).
// External resources (.bin, images) are read from the file's folder; nothing touches the network.
import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const [assetArg, validatorArg] = process.argv.slice(2);
if (!assetArg) {
  console.error("usage: node validate_gltf.mjs <asset> [gltf-validator folder]");
  process.exit(2);
}
const validatorDir = validatorArg ?? path.join(here, "..", "..", ".tools", "node_modules", "gltf-validator");
const validator = await import(pathToFileURL(path.join(validatorDir, "module.mjs")).href);

const asset = path.resolve(assetArg);
const bytes = new Uint8Array(await readFile(asset));
const report = await validator.validateBytes(bytes, {
  uri: path.basename(asset),
  maxIssues: 100,
  externalResourceFunction: async (uri) =>
    new Uint8Array(await readFile(path.resolve(path.dirname(asset), decodeURIComponent(uri)))),
});
console.log(JSON.stringify(report, null, 2));
