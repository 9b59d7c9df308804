// Lets plugin modules run under Node's test runner: `node --import <this file> --test`.
// Maps the component imports (`kubestellar:plugin/host@0.1.0`) to a stub that records log lines.
import { register } from 'node:module';

register('./hooks.mjs', import.meta.url);
