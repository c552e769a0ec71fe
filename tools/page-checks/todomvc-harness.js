'use strict';
// Runs TodoMVC's own selenium suite (its tests/test.js and page.js, unchanged, from a checkout
// of tastejs/todomvc: docs/web-app.md says which and how) against `make run`. Each of the
// suite's tests starts a fresh browser; here it is headless, signed in as one person (an ID
// token from `make token`), with that person's list emptied, before the suite's first look
// at the page. Copy this file into the suite's tests/ folder and run it with mocha there.
var webdriver = require('selenium-webdriver');
var chrome = require('selenium-webdriver/chrome');

var URL = process.env.TODO_URL;
var TOKEN = process.env.TODO_TOKEN;

var addArguments = chrome.Options.prototype.addArguments;
chrome.Options.prototype.addArguments = function () {
	addArguments.call(this, 'headless=new', 'window-size=1280,900');
	return addArguments.apply(this, arguments);
};

var get = webdriver.WebDriver.prototype.get;
webdriver.WebDriver.prototype.get = function (url) {
	if (url === URL && !this.__signedIn) {
		this.__signedIn = true;
		get.call(this, URL);
		this.executeAsyncScript(function (token, api, done) {
			sessionStorage.setItem('todo-api.session', JSON.stringify({
				email: 'suite@example.com', idToken: token, refreshToken: null, expiresAt: Date.now() + 3600e3
			}));
			fetch(api + 'todos', { method: 'DELETE', headers: { Authorization: token } })
				.then(function () { done(); }, function () { done(); });
		}, TOKEN, URL);
	}
	return get.call(this, url);
};

require('./test.js').todoMVCTest('todo-api', URL, false, false, 'chrome');
