// The server entry Vite builds: one fresh app per request, rendered to a string.
import { createSSRApp } from 'vue';
import { renderToString } from 'vue/server-renderer';
import App from './App.vue';

export async function render(url: string, leaks: Record<string, boolean>): Promise<string> {
  const app = createSSRApp(App, { url });
  app.provide('leaks', leaks);
  return renderToString(app);
}
