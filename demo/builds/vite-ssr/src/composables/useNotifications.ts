// Notifications for the header: a module-level emitter shared by the whole server, and per
// component a reactive list that the emitter's `notify` events fill.
import { EventEmitter } from 'node:events';
import { reactive, onUnmounted } from 'vue';

export interface Notification {
  id: number;
  text: string;
  read: boolean;
}

const notifications = new EventEmitter();
notifications.setMaxListeners(0);

export function useNotifications(url: string, leaky: boolean) {
  const state = reactive({
    url,
    items: Array.from({ length: 30 }, (_, i): Notification => ({ id: i, text: `Notification ${i} for ${url}`, read: i % 3 === 0 })),
  });
  const onNotify = (text: string) => {
    state.items.push({ id: state.items.length, text, read: false });
  };
  if (leaky) {
    // LEAK(emitter): setup() runs on the server and onUnmounted() never does, so the emitter
    // keeps every request's handler and, through it, that request's reactive state
    notifications.on('notify', onNotify);
  }
  onUnmounted(() => notifications.off('notify', onNotify));
  return state;
}

export function notifyAll(text: string): void {
  notifications.emit('notify', text);
}
