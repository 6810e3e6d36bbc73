// A module-level global event bus, as in the seed incident: one Vue instance shared by every
// request for the life of the process (with runInNewContext: false).
import Vue from 'vue';

const bus = new Vue();
Vue.prototype.$bus = bus;

export default bus;
