// Module resolution hook: `kubestellar:plugin/host@...` resolves to the stub in host.mjs.
export async function resolve(specifier, context, nextResolve) {
  if (specifier.startsWith('kubestellar:plugin/host')) {
    return { url: new URL('./host.mjs', import.meta.url).href, shortCircuit: true };
  }
  return nextResolve(specifier, context);
}
