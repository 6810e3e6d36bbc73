'use strict';
// Side menu with ~40 items. Under LEAKS=bus it reproduces the seed incident:
// the listener is registered in created(), which runs during server render,
// so the module-level bus keeps every rendered instance (and, through
// $parent/$root/$children, the whole per-request component tree) alive forever.
const SECTIONS = ['Products', 'Solutions', 'Developers', 'Resources', 'Company'];

function buildItems(seed) {
  const items = [];
  for (let i = 0; i < 40; i++) {
    const section = SECTIONS[i % SECTIONS.length];
    items.push({
      id: `menu-${i}`,
      title: `${section} item ${i}`,
      href: `/${section.toLowerCase()}/${i}`,
      icon: `icon-${section.toLowerCase()}-${i % 7}`,
      badge: i % 5 === 0 ? `${(seed + i) % 100} new` : null,
      description: `${section} / item ${i}: a short description of this menu entry for SEO (${seed}).`,
      tags: [section.toLowerCase(), `level-${i % 3}`, `group-${i % 4}`],
      children: i % 8 === 0
        ? [0, 1, 2].map((j) => ({ id: `menu-${i}-${j}`, title: `Sub ${i}.${j}`, href: `/${section.toLowerCase()}/${i}/${j}` }))
        : [],
    });
  }
  return items;
}

module.exports = {
  name: 'AsideMenu',
  inject: ['leaks'],
  data() {
    return {
      collapsed: false,
      items: buildItems(Math.floor(Math.random() * 1000)),
    };
  },
  created() {
    if (this.leaks.bus) {
      // LEAK(bus): the next line is src/components/AsideMenu.js:40 — it runs on the server.
      this.$bus.$on('toggleAsideMenu', this.toggleAsideMenu);
    }
  },
  mounted() {
    // The seed's fix: mounted() never runs during server-side rendering.
    if (!this.leaks.bus) this.$bus.$on('toggleAsideMenu', this.toggleAsideMenu);
  },
  beforeDestroy() {
    this.$bus.$off('toggleAsideMenu', this.toggleAsideMenu);
  },
  methods: {
    toggleAsideMenu() {
      this.collapsed = !this.collapsed;
    },
  },
  render(h) {
    return h('aside', { class: ['aside-menu', { collapsed: this.collapsed }], attrs: { 'aria-label': 'Main menu' } }, [
      h('ul', { class: 'menu' }, this.items.map((item) => h('li', { key: item.id, class: ['menu-item', ...item.tags], attrs: { id: item.id } }, [
        h('a', { attrs: { href: item.href, title: item.description } }, [
          h('i', { class: ['icon', item.icon] }),
          h('span', { class: 'title' }, item.title),
          item.badge ? h('span', { class: 'badge' }, item.badge) : null,
        ]),
        item.children.length
          ? h('ul', { class: 'submenu' }, item.children.map((c) => h('li', { key: c.id }, [h('a', { attrs: { href: c.href } }, c.title)])))
          : null,
      ]))),
    ]);
  },
};
