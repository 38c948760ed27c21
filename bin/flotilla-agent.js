#!/usr/bin/env node
// The node agent. Runs the compiled output (npm run build).
import { main } from "../dist/node-agent/src/main.js";
main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
