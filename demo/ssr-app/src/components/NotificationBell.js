'use strict';
// Notification bell that polls for new notifications. In the browser the
// interval would be cleared in beforeDestroy(); on the server that hook never
// runs, so under LEAKS=interval every render leaves one more live Timeout.
module.exports = {
  name: 'NotificationBell',
  inject: ['leaks'],
  props: { url: { type: String, default: '/' } },
  data() {
    return { unread: 3, timer: null };
  },
  created() {
    if (this.leaks.interval) {
      // The poller only closes over its own state object (not the component).
      const poll = { url: this.url, checks: 0, lastCheckedAt: Date.now(), recent: Array.from({ length: 24 }, (_, i) => ({ id: i, read: false })) };
      // LEAK(interval): the next line is src/components/NotificationBell.js:17 — never cleared on the server.
      this.timer = setInterval(function pollNotifications() {
        poll.checks += 1;
        poll.lastCheckedAt = Date.now();
      }, 60000);
    }
  },
  beforeDestroy() {
    if (this.timer) clearInterval(this.timer);
  },
  render(h) {
    return h('div', { class: 'notification-bell' }, [
      h('button', { attrs: { type: 'button', 'aria-label': 'Notifications' } }, [
        h('span', { class: 'icon icon-bell' }),
        this.unread ? h('span', { class: 'count' }, String(this.unread)) : null,
      ]),
    ]);
  },
};
