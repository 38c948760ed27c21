#!/usr/bin/env node
// Operator CLI and controller. Runs the compiled output (npm run build).
import { main } from "../dist/controller/src/cli.js";
main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
