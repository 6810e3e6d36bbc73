'use strict';

module.exports = (app) => {
  if (app.config.ssrLeaks.listener) process.setMaxListeners(0);
};
