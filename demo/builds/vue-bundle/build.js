'use strict';
// Builds dist/vue-ssr-server-bundle.json the way Vue's SSR guide does: webpack 5 + vue-loader 15,
// target node, commonjs2, packages left external, VueSSRServerPlugin; minified (production mode)
// with source maps, which the plugin puts inside the bundle JSON.
const path = require('path');
const webpack = require('webpack');
const { VueLoaderPlugin } = require('vue-loader');
const VueSSRServerPlugin = require('vue-server-renderer/server-plugin');

const config = {
  mode: process.env.BUILD_MODE || 'production',
  context: __dirname,
  target: 'node',
  entry: './src/entry-server.js',
  devtool: 'source-map',
  output: { path: path.join(__dirname, 'dist'), libraryTarget: 'commonjs2' },
  externals: [({ request }, callback) => (/^[a-z@][^:]*$/i.test(request) && !request.startsWith('vue-loader')
    ? callback(null, `commonjs ${request}`) : callback())],
  module: { rules: [{ test: /\.vue$/, loader: 'vue-loader' }] },
  plugins: [new VueLoaderPlugin(), new VueSSRServerPlugin()],
};

webpack(config, (err, stats) => {
  if (err || stats.hasErrors()) {
    console.error(err || stats.toString('errors-only'));
    process.exit(1);
  }
  console.log(stats.toString({ preset: 'minimal' }));
});
