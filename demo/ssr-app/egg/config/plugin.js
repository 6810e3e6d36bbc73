'use strict';
// Plugins the demo does not need are off, so that the server is small.
module.exports = {
  session: false,
  i18n: false,
  multipart: false,
  jsonp: false,
  view: false,
  static: false,
  development: false,
  watcher: false,
  logrotator: false,
  schedule: false,
};
