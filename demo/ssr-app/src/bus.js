'use strict';
// A module-level global event bus, as in the seed incident: one Vue instance
// shared by every request for the life of the process.
const Vue = require('vue');

const bus = new Vue();
Vue.prototype.$bus = bus;

module.exports = bus;
