// The server entry of the bundle: vue-server-renderer's bundle renderer calls the default
// export once per request with the render context, and renders the app it resolves to.
import Vue from 'vue';
import App from './App.vue';
import './bus';

Vue.config.productionTip = false;
Vue.config.devtools = false;

export default function createApp(context) {
  const { leaks, url } = context;
  return new Vue({
    name: 'Root',
    provide: { leaks, url },
    render: (h) => h(App, { props: { url, title: url === '/' ? 'Home' : 'Page' } }),
  });
}
