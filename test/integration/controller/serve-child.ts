// Entry point for tests that run `flotilla serve` as its own process (from source, via tsx).
import { main } from "../../../controller/src/cli.js";

main(process.argv.slice(2)).then((code) => process.exit(code));
