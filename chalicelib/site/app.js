// todo-api's TodoMVC front end: plain JavaScript, no build step, no third-party code.
//
// It speaks the API as any client does: it follows `Link` pages to the last, uses each
// todo's `url`, sends `If-Match` with the ETag it holds, and an `Idempotency-Key` with each
// create. Every change shows at once and is saved in the background; a failed save is rolled
// back and said. Signing in is Cognito's USER_PASSWORD_AUTH flow, called directly (no SDK);
// the tokens live in sessionStorage, never in cookies or localStorage. Titles are text: the
// page never parses markup it did not write (it sets textContent, never HTML).

const SESSION = "todo-api.session";
const ENTER = "Enter";
const ESCAPE = "Escape";

const $ = (selector) => document.querySelector(selector);
const config = await loadConfig();

// --- saying what happens -------------------------------------------------------------------

let inFlight = 0;

let writing = 0;

function busy(delta, write = true) {
	inFlight += delta;
	if (write) writing += delta;
	$("#busy").textContent = writing > 0 ? "Saving…" : inFlight > 0 ? "Loading…" : "";
	document.body.classList.toggle("is-busy", inFlight > 0);
}

function say(message) {
	const notice = $("#notice");
	notice.textContent = message;
}

function clearNotice() {
	$("#notice").textContent = "";
	$("#undo").hidden = true;
	undoable = [];
}

class Problem extends Error {
	constructor(message, kind = "") {
		super(message);
		this.kind = kind;
	}
}

// --- waiting when a service is busy ------------------------------------------------------------
// Bounded and jittered: each wait is random up to a cap that doubles with each attempt ("full
// jitter"), never shorter than the Retry-After a service asked for, so that many pages refused
// at the same moment do not all come back at the same moment.

// make spike reads these constants (infrastructure/capacity.py).
const API_RETRIES = 3;
const COGNITO_RETRIES = 4;
const BACKOFF_FIRST_MS = 1000;
const BACKOFF_CAP_MS = 16_000;
const RENEW_BEFORE_MS = 60_000;

function backoff(attempt, retryAfterSeconds = 0) {
	return retryAfterSeconds * 1000 + Math.random() * Math.min(BACKOFF_CAP_MS, BACKOFF_FIRST_MS * 2 ** attempt);
}

const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function inSeconds(ms) {
	return Math.max(1, Math.round(ms / 1000));
}

async function loadConfig() {
	// Beside the page, wherever the API serves it (a stage's path prefix included).
	const response = await fetch(new URL("../config.json", import.meta.url));
	return response.json();
}

// --- Cognito: sign up, confirm, sign in, refresh -------------------------------------------

// Cognito refuses past its rates (TooManyRequestsException), a day's e-mails or attempts
// (LimitExceededException), or when its sender lags (CodeDeliveryFailureException): the page
// waits, says so, and tries again (a SignUp refused so made the user: its code is resent).
const COGNITO_BUSY = new Set(["TooManyRequestsException", "LimitExceededException", "CodeDeliveryFailureException"]);
const MADE_BUT_NOT_SENT = "CodeDeliveryFailureException";

async function cognito(action, body) {
	for (let attempt = 0; ; attempt++) {
		let response;
		try {
			response = await fetch(config.cognitoEndpoint, {
				method: "POST",
				headers: {
					"Content-Type": "application/x-amz-json-1.1",
					"X-Amz-Target": `AWSCognitoIdentityProviderService.${action}`,
				},
				body: JSON.stringify({ ClientId: config.clientId, ...body }),
			});
		} catch {
			throw new Problem("The sign-in service cannot be reached. Check your connection and try again.");
		}
		const data = await response.json().catch(() => ({}));
		if (response.ok) {
			if (attempt > 0) clearNotice(); // what was said of the wait is over
			return data;
		}
		const kind = String(data.__type || "").split("#").pop();
		const made = action === "SignUp" && kind === MADE_BUT_NOT_SENT;
		if (made || !COGNITO_BUSY.has(kind) || attempt >= COGNITO_RETRIES) throw new Problem(cognitoMessage(kind, data.message), kind);
		const wait = backoff(attempt);
		say(`${busyWords(action)}: trying again in ${inSeconds(wait)} s. What you typed is kept.`);
		await pause(wait);
	}
}

function busyWords(action) {
	if (action === "SignUp" || action === "ConfirmSignUp") return "Many people are signing up right now";
	if (action === "ResendConfirmationCode") return "Many codes are being sent right now";
	return "Many people are signing in right now";
}

function cognitoMessage(kind, message) {
	switch (kind) {
		case "NotAuthorizedException":
			return "That e-mail and password do not match.";
		case "UserNotFoundException":
			return "That e-mail and password do not match.";
		case "UsernameExistsException":
			return "An account with that e-mail exists: sign in instead.";
		case "InvalidPasswordException":
			return "Choose a longer password: 8 or more characters, with upper and lower case and a digit.";
		case "CodeMismatchException":
			return "That code is not the one we sent.";
		case "TooManyRequestsException":
			return "Too many people are signing in right now; please try again in a minute.";
		case "LimitExceededException":
			return "We cannot send more sign-up codes right now; please try again later.";
		case "CodeDeliveryFailureException":
			return "We could not send your code just now; send it again in a moment.";
		default:
			return message ? `Cognito says: ${message}` : "Signing in failed; try again.";
	}
}

function session() {
	try {
		return JSON.parse(sessionStorage.getItem(SESSION)) || null;
	} catch {
		return null;
	}
}

function keep(result, email) {
	const previous = session() || {};
	const kept = {
		email: email || previous.email,
		idToken: result.IdToken,
		refreshToken: result.RefreshToken || previous.refreshToken,
		expiresAt: Date.now() + (result.ExpiresIn || 3600) * 1000,
	};
	sessionStorage.setItem(SESSION, JSON.stringify(kept));
	return kept;
}

async function signIn(email, password) {
	const answer = await cognito("InitiateAuth", {
		AuthFlow: "USER_PASSWORD_AUTH",
		AuthParameters: { USERNAME: email, PASSWORD: password },
	});
	if (!answer.AuthenticationResult) {
		throw new Problem("This account needs a step this page does not offer.");
	}
	return keep(answer.AuthenticationResult, email);
}

let refreshing = null;

async function renewed() {
	const current = session();
	if (!current || !current.refreshToken) return null;
	refreshing ||= cognito("InitiateAuth", {
		AuthFlow: "REFRESH_TOKEN_AUTH",
		AuthParameters: { REFRESH_TOKEN: current.refreshToken },
	})
		.then((answer) => keep(answer.AuthenticationResult))
		.catch(() => null)
		.finally(() => {
			refreshing = null;
		});
	return refreshing;
}

async function idToken() {
	const current = session();
	if (!current) return null;
	if (current.expiresAt - Date.now() > RENEW_BEFORE_MS) return current.idToken;
	const fresh = await renewed();
	return fresh && fresh.idToken;
}

function signOut(message) {
	sessionStorage.removeItem(SESSION);
	syncToken = null;
	todos = [];
	editing = null;
	render(); // nobody's items stay in the page, even hidden
	showSignedOut();
	if (message) say(message);
}

// --- the API ---------------------------------------------------------------------------------

// Changes go out one at a time, in the order they were made: a change that waits for a busy
// server holds the ones after it, which stay shown and queued rather than overtaking it. A
// write's options may be a function, called when its turn comes: a change's If-Match is then
// the ETag the change before it was answered with, not the one there was when it was made.
let writes = Promise.resolve();

async function call(method, url, options = {}) {
	const write = method !== "GET";
	busy(+1, write);
	try {
		if (!write) return await send(method, url, options);
		const turn = writes.then(async () => {
			const response = await send(method, url, typeof options === "function" ? await options() : options);
			tag(url, response);
			return response;
		});
		writes = turn.catch(() => {});
		return await turn;
	} finally {
		busy(-1, write);
	}
}

async function send(method, url, { body, headers = {} }) {
	for (let attempt = 0, busyAttempt = 0; ; attempt++) {
		const token = attempt === 0 ? await idToken() : (await renewed())?.idToken;
		if (!token) {
			signOut("Your session has ended: sign in again.");
			throw new Problem("signed out");
		}
		const sent = { Authorization: token, ...headers };
		if (body !== undefined) sent["Content-Type"] = "application/json";
		let response;
		try {
			response = await fetch(url, {
				method,
				headers: sent,
				body: body === undefined ? undefined : JSON.stringify(body),
				// A write the page has shown outlives the page: leaving it (or reloading) right
				// after a change does not cancel the change's request.
				keepalive: method !== "GET",
			});
		} catch {
			throw new Problem("The server cannot be reached. Check your connection; your change was not saved.");
		}
		if (response.status === 401 && attempt === 0) continue; // an expired token: renew once
		if (response.status === 401) {
			signOut("Your session has ended: sign in again.");
			throw new Problem("signed out");
		}
		if (response.status === 503 || response.status === 429) {
			if (busyAttempt >= API_RETRIES) {
				throw new Problem("The server is busy; your change was not saved. Try again in a moment.");
			}
			const wait = backoff(busyAttempt++, Number(response.headers.get("Retry-After")) || 0);
			say(`The server is busy: trying again in ${inSeconds(wait)} s. Your changes are kept.`);
			await pause(wait);
			attempt = -1; // the same token again: the next pass is a first try
			continue;
		}
		if (busyAttempt > 0) clearNotice();
		return response;
	}
}

async function errorOf(response) {
	const body = await response.json().catch(() => ({}));
	return new Problem(body.Message ? `Not saved: ${body.Message}.` : `Not saved (HTTP ${response.status}).`);
}

// Each todo's ETag, by its url: the one its last answer came with (a listing carries none).
const tags = new Map();

function tag(url, response) {
	const etag = response.headers.get("ETag");
	if (etag && response.ok) tags.set(url, etag);
}

function tagged(todo, response) {
	tag(todo.url, response);
	return todo;
}

function nextLink(response) {
	const link = response.headers.get("Link") || "";
	const found = /<([^>]+)>\s*;\s*rel="next"/.exec(link);
	return found ? found[1] : null;
}

async function loadAll() {
	const loaded = [];
	let url = `${config.api}/todos`;
	let token = null;
	while (url) {
		const response = await call("GET", url);
		if (!response.ok) throw await errorOf(response);
		token ??= response.headers.get("Sync-Token"); // the first page's: the list holds all before it
		loaded.push(...(await response.json()));
		url = nextLink(response);
	}
	tags.clear(); // what the listing shows is what a change is made to
	syncToken = token;
	return loaded;
}

// The If-Match of a change to `todo`, made when the change's turn comes. A listed todo gets
// its tag when first changed (a GET). If that todo is no longer what the page showed, someone
// changed it since the listing: STALE is thrown, and the change is not sent.
const STALE = Symbol("stale");

async function ifMatch(todo) {
	if (!tags.has(todo.url)) {
		const response = await call("GET", todo.url);
		if (!response.ok) return {}; // gone: the change itself meets the 404
		const current = await response.json();
		if (current.title !== todo.title || current.completed !== todo.completed || current.order !== todo.order) throw STALE;
		tag(todo.url, response);
	}
	return { "If-Match": tags.get(todo.url) };
}

// --- state and rendering ---------------------------------------------------------------------

let todos = []; // each with a `key`: its own for as long as the page shows it (see `keyed`)
let editing = null; // the key of the todo being edited
let rendering = false;
const shownAs = new Map(); // key -> its <li>, made once and updated in place

// A todo's key stays the same when its temporary id (a create on its way) becomes the one the
// API gave it, so its list item, and the focus, selection or edit in it, survive the save.
function keyed(todo, key = todo.id) {
	return { ...todo, key };
}

function filter() {
	const hash = location.hash;
	if (hash === "#/active") return (todo) => !todo.completed;
	if (hash === "#/completed") return (todo) => todo.completed;
	return () => true;
}

function element(tag, properties = {}, children = []) {
	const made = document.createElement(tag);
	for (const [name, value] of Object.entries(properties)) {
		if (name === "text") made.textContent = value;
		else if (name === "class") made.className = value;
		else if (name in made) made[name] = value;
		else made.setAttribute(name, value);
	}
	made.append(...children);
	return made;
}

function byKey(key) {
	return todos.find((todo) => todo.key === key);
}

function render() {
	const list = $(".todo-list");
	const shown = todos.filter(filter());
	const keys = new Set(shown.map((todo) => todo.key));
	rendering = true; // an edit field's blur as it leaves the page is not the person's
	for (const [key, li] of shownAs) {
		if (!keys.has(key)) {
			li.remove();
			shownAs.delete(key);
		}
	}
	// In order, each item updated in place; one is moved only when it is out of place.
	let previous = null;
	for (const todo of shown) {
		const li = shownAs.get(todo.key) ?? made(todo.key);
		update(li, todo);
		const wanted = previous ? previous.nextSibling : list.firstChild;
		if (wanted !== li) list.insertBefore(li, wanted);
		previous = li;
	}
	rendering = false;
	const left = todos.filter((todo) => !todo.completed).length;
	$(".main").hidden = todos.length === 0;
	$(".footer").hidden = todos.length === 0;
	$("#toggle-all").checked = todos.length > 0 && left === 0;
	$(".todo-count").replaceChildren(element("strong", { text: String(left) }), ` ${left === 1 ? "item" : "items"} left`);
	$(".clear-completed").hidden = todos.length === left;
	const current = ["#/active", "#/completed"].includes(location.hash) ? location.hash : "#/";
	for (const link of document.querySelectorAll(".filters a")) {
		const selected = link.getAttribute("href") === current;
		link.classList.toggle("selected", selected);
		if (selected) link.setAttribute("aria-current", "page");
		else link.removeAttribute("aria-current");
	}
}

// A todo's list item, made once: its handlers find the todo by key when they run.
function made(key) {
	const toggle = element("input", { class: "toggle", type: "checkbox" });
	toggle.addEventListener("change", () => change(byKey(key).id, { completed: toggle.checked }));
	const label = element("label");
	label.addEventListener("dblclick", () => {
		editing = key;
		render();
	});
	const destroy = element("button", { class: "destroy" });
	destroy.addEventListener("click", () => remove(byKey(key).id));
	const li = element("li", {}, [element("div", { class: "view" }, [toggle, label, destroy])]);
	shownAs.set(key, li);
	return li;
}

function update(li, todo) {
	const [toggle, label, destroy] = li.firstChild.children;
	li.dataset.id = todo.id;
	li.classList.toggle("completed", todo.completed);
	toggle.checked = todo.completed;
	toggle.setAttribute("aria-label", `Mark “${todo.title}” as ${todo.completed ? "active" : "complete"}`);
	if (label.textContent !== todo.title) label.textContent = todo.title;
	destroy.setAttribute("aria-label", `Delete “${todo.title}”`);
	const field = li.querySelector(".edit");
	if (editing === todo.key && !field) {
		li.classList.add("editing");
		li.append(editor(todo.key, todo.title));
		li.querySelector(".edit").focus();
	} else if (editing !== todo.key && field) {
		li.classList.remove("editing");
		field.remove();
	}
}

// The edit field: what is typed stays until Enter, Escape or leaving it, whatever saves finish.
function editor(key, title) {
	const field = element("input", { class: "edit", value: title });
	field.setAttribute("aria-label", `Edit “${title}”`);
	let done = false;
	const finish = (save) => {
		if (done) return;
		done = true;
		editing = null;
		const todo = byKey(key);
		const typed = field.value.trim();
		if (!todo || !save) render();
		else if (!typed) remove(todo.id);
		else if (typed !== todo.title) change(todo.id, { title: typed });
		else render();
	};
	field.addEventListener("keydown", (event) => {
		if (event.key === ENTER) finish(true);
		else if (event.key === ESCAPE) finish(false);
	});
	field.addEventListener("blur", () => {
		if (!rendering) finish(true);
	});
	return field;
}

function replace(id, todo) {
	todos = todos.map((existing) => (existing.id === id ? keyed(todo, existing.key) : existing));
}

// --- changes: shown at once, saved in the background, rolled back if refused ----------------

// A todo being created, by its temporary id: its save, the created todo (null if refused). A
// change or delete made meanwhile follows it rather than being lost.
const saving = new Map();

async function add(title) {
	clearNotice(); // a new change: what was said of the last one is old news
	const temporary = keyed({ id: `new-${crypto.randomUUID()}`, title, completed: false, url: null });
	todos = [...todos, temporary];
	render();
	const key = crypto.randomUUID();
	let saved = null;
	let settle;
	saving.set(temporary.id, new Promise((resolve) => (settle = resolve)));
	busy(+1); // until the todo has its id, not only until the answer's headers
	try {
		let response;
		for (let attempt = 0; ; attempt++) {
			try {
				response = await call("POST", `${config.api}/todos`, {
					body: { title },
					headers: { "Idempotency-Key": key },
				});
				break;
			} catch (problem) {
				// A network failure may have lost a create that landed: the same key makes
				// the retry answer with that todo instead of making a second one.
				if (attempt > 0 || problem.message === "signed out" || !/reached/.test(problem.message)) throw problem;
			}
		}
		if (response.status !== 201) throw await errorOf(response);
		saved = tagged(await response.json(), response);
		replace(temporary.id, saved);
		render();
	} catch (problem) {
		todos = todos.filter((todo) => todo.id !== temporary.id);
		render();
		failed(problem);
	} finally {
		saving.delete(temporary.id);
		settle(saved);
		busy(-1);
	}
}

function failed(problem) {
	if (problem.message !== "signed out") say(problem.message);
}

// The last change made to each todo, by id: only its answer is shown, so a quick second change
// is never undone on screen by the first one's answer, whichever arrives last.
const latest = new Map();

async function change(id, fields) {
	clearNotice();
	touch(id);
	const before = todos.find((todo) => todo.id === id);
	if (saving.has(id)) {
		if (before) replace(id, { ...before, ...fields });
		render();
		const saved = await saving.get(id);
		return saved && change(saved.id, fields);
	}
	if (!before || !before.url) return;
	replace(id, { ...before, ...fields });
	render();
	const mine = {};
	latest.set(id, mine);
	busy(+1); // until what the page shows is final, not only until the answer's headers
	try {
		const response = await call("PATCH", before.url, async () => ({ body: fields, headers: await ifMatch(before) }));
		if (response.status === 412) throw STALE;
		if (response.status === 404) return gone(id);
		if (!response.ok) throw await errorOf(response);
		const saved = tagged(await response.json(), response);
		if (latest.get(id) === mine) replace(id, saved);
		render();
	} catch (problem) {
		if (problem === STALE) return await reloadOne(before, "changed elsewhere").catch(failed);
		if (latest.get(id) === mine) replace(id, before);
		render();
		failed(problem);
	} finally {
		busy(-1);
	}
}

async function reloadOne(todo, why) {
	const response = await call("GET", todo.url);
	if (response.status === 404) return gone(todo.id);
	if (!response.ok) throw await errorOf(response);
	const current = tagged(await response.json(), response);
	replace(todo.id, current);
	render();
	say(`“${current.title}” was ${why}: it now shows its latest version, and your change was not applied.`);
}

function gone(id) {
	todos = todos.filter((todo) => todo.id !== id);
	render();
	say("That todo was deleted elsewhere.");
}

async function remove(id) {
	clearNotice();
	touch(id);
	const index = todos.findIndex((todo) => todo.id === id);
	if (index < 0) return;
	const before = todos[index];
	todos = todos.filter((todo) => todo.id !== id);
	render();
	if (saving.has(id)) {
		const saved = await saving.get(id); // no longer shown: its create's answer changes nothing
		if (saved) await call("DELETE", saved.url, async () => ({ headers: await ifMatch(saved) })).catch(failed);
		return;
	}
	if (!before.url) return;
	busy(+1);
	try {
		const response = await call("DELETE", before.url, async () => ({ headers: await ifMatch(before) }));
		if (response.status === 412) throw STALE;
		if (!response.ok && response.status !== 404) throw await errorOf(response);
		if (response.ok) offerUndo(`Deleted “${before.title}”.`, [before]);
	} catch (problem) {
		todos.splice(Math.min(index, todos.length), 0, before);
		if (problem === STALE) return await reloadOne(before, "changed elsewhere").catch(failed);
		render();
		failed(problem);
	} finally {
		busy(-1);
	}
}

async function toggleAll(completed) {
	await Promise.all(todos.filter((todo) => todo.completed !== completed).map((todo) => change(todo.id, { completed })));
}

async function clearCompleted() {
	clearNotice();
	const before = todos;
	const cleared = todos.filter((todo) => todo.completed && todo.url);
	cleared.forEach((todo) => touch(todo.id));
	todos = todos.filter((todo) => !todo.completed);
	render();
	try {
		const response = await call("DELETE", `${config.api}/todos?completed=true`);
		if (response.status === 202) say("Clearing many completed todos: the rest go within a minute or two.");
		else if (response.status !== 204) throw await errorOf(response);
		else offerUndo(`Cleared ${cleared.length} completed ${cleared.length === 1 ? "todo" : "todos"}.`, cleared);
	} catch (problem) {
		todos = before;
		render();
		failed(problem);
		await refresh();
	}
}

async function refresh() {
	try {
		// A reload keeps each shown todo's key (its item), by id; a new one gets its id.
		const keys = new Map(todos.map((todo) => [todo.id, todo.key]));
		todos = (await loadAll()).map((todo) => keyed(todo, keys.get(todo.id)));
		render();
	} catch (problem) {
		failed(problem);
	} finally {
		document.body.dataset.loaded = "";
	}
}

// --- undo ----------------------------------------------------------------------------------------
// After a delete or a clear, the notice offers to bring back what went (the API keeps a deleted
// todo for its sync window); a new change moves on, and the offer with it.

let undoable = [];

function offerUndo(message, removed) {
	say(message);
	undoable = removed;
	$("#undo").hidden = false;
}

async function undo() {
	const back = undoable;
	clearNotice();
	back.forEach((todo) => touch(todo.id));
	const ids = new Set(back.map((todo) => todo.id));
	todos = inOrder([...todos.filter((todo) => !ids.has(todo.id)), ...back]); // shown at once
	render();
	busy(+1); // until every one is back, or said not to be
	try {
		for (const todo of back) {
			try {
				const response = await call("POST", `${todo.url}/restore`);
				if (!response.ok) throw await errorOf(response);
				replace(todo.id, tagged(await response.json(), response));
			} catch (problem) {
				todos = todos.filter((shown) => shown.id !== todo.id);
				failed(problem);
			}
			render();
		}
	} finally {
		busy(-1);
	}
}

// --- in step with the person's other devices ---------------------------------------------------
// The list's first page carries a Sync-Token; what changed since (GET /todos?since=) is asked
// for when the page is shown again, when it is back online, and about every CATCH_UP_MS while it
// is visible, and applied in place (each item kept, by key). What this page is changing, creating
// or editing right now keeps what the person did (its own save meets If-Match): those changes
// are asked for again next time, from the same token. A token too old (410) reloads the list.

// Rarely, and at a random moment of each period: a crowd of open pages must not become a crowd of
// requests (ten thousand pages every 30 s are some 330 requests a second), and live pushes are
// for the moments that matter.
const CATCH_UP_MS = 30_000;
let syncToken = null;
let catching = null;
let again = false;
let caughtUp = 0;
const touched = new Map(); // id -> how many changes this page has made to it

function touch(id) {
	touched.set(id, (touched.get(id) || 0) + 1);
}

function inOrder(list) {
	return list.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)); // ids sort by creation
}

async function catchUp() {
	if (catching) return void (again = true); // asked during one: one more after it
	if (!syncToken || writing > 0 || !session()) return;
	catching = (async () => {
		const before = new Map(touched);
		const changes = [];
		let token = null;
		let url = `${config.api}/todos?since=${encodeURIComponent(syncToken)}`;
		while (url) {
			const response = await send("GET", url, {}); // quietly: not the person's request
			if (response.status === 410) return await refresh();
			if (!response.ok) return;
			changes.push(...(await response.json()));
			token = response.headers.get("Sync-Token");
			url = nextLink(response);
		}
		const applied = changes.map((item) => apply(item, before)).every(Boolean);
		if (applied && token) syncToken = token;
		render();
		document.body.dataset.caughtUp = String(++caughtUp); // the page's signal: a catch-up is in

	})()
		.catch(() => {})
		.finally(() => {
			catching = null;
			if (again) {
				again = false;
				catchUp();
			}
		});
}

// One change from another device, unless this page's own is under way: false if held back.
function apply({ deleted, ...todo }, before) {
	const shown = todos.find((existing) => existing.id === todo.id);
	const mine = (touched.get(todo.id) || 0) !== (before.get(todo.id) || 0);
	if (mine || saving.size > 0 || writing > 0 || (shown && editing === shown.key)) return false;
	tags.delete(todo.url); // its version is no longer the one this page was answered with
	if (deleted) todos = todos.filter((existing) => existing.id !== todo.id);
	else if (shown) replace(todo.id, todo);
	else todos = inOrder([...todos, keyed(todo)]);
	return true;
}

document.addEventListener("visibilitychange", () => document.visibilityState === "visible" && catchUp());
window.addEventListener("online", () => catchUp());
(function every() {
	setTimeout(() => {
		if (document.visibilityState === "visible") catchUp();
		every();
	}, CATCH_UP_MS * (0.5 + Math.random()));
})();

// --- screens -----------------------------------------------------------------------------------

function showSignedOut() {
	delete document.body.dataset.loaded;
	$("#signed-in").hidden = true;
	$("#signed-out").hidden = false;
	$("#sign-in-email").focus();
}

async function showSignedIn() {
	const current = session();
	$("#who").textContent = current.email || "you";
	$("#signed-out").hidden = true;
	$("#signed-in").hidden = false;
	$(".new-todo").focus();
	await refresh();
}

async function act(handler) {
	clearNotice();
	busy(+1, false);
	try {
		await handler();
	} catch (problem) {
		say(problem.message);
	} finally {
		busy(-1, false);
	}
}

function form(selector, handler) {
	$(selector).addEventListener("submit", (event) => {
		event.preventDefault();
		act(() => handler(Object.fromEntries(new FormData(event.target))));
	});
}

let pending = null; // the e-mail and password of a sign-up awaiting its code

// While an operator pauses sign-ups (the stage's sign-ups-paused setting), the page says so
// in place of the sign-up form; sign-in keeps working.
if (config.signUps === false) {
	$("#sign-up").hidden = true;
	$("#sign-ups-paused").hidden = false;
}

function askForCode(hint) {
	$("#confirm").hidden = false;
	$("#confirm-hint").textContent = hint;
	$("#confirm-code").focus();
}

form("#sign-in", async ({ email, password }) => {
	try {
		await signIn(email.trim(), password);
	} catch (problem) {
		if (problem.kind !== "UserNotConfirmedException") throw problem;
		pending = { email: email.trim(), password };
		askForCode(`Confirm your e-mail first: enter the code we sent to ${pending.email}, or send it again.`);
		return;
	}
	await showSignedIn();
});

form("#sign-up", async ({ email, password }) => {
	pending = { email: email.trim(), password };
	try {
		await cognito("SignUp", {
			Username: pending.email,
			Password: password,
			UserAttributes: [{ Name: "email", Value: pending.email }],
		});
	} catch (problem) {
		if (problem.kind !== MADE_BUT_NOT_SENT) throw problem;
		askForCode(`Your account is made; sending its code again to ${pending.email}.`);
		await resend();
		return;
	}
	askForCode(`We sent a code to ${pending.email}.`);
});

async function resend() {
	if (!pending) throw new Problem("Sign up first.");
	await cognito("ResendConfirmationCode", { Username: pending.email });
	askForCode(`We sent a new code to ${pending.email}.`);
}

$("#resend").addEventListener("click", () => act(resend));

form("#confirm", async ({ code }) => {
	if (!pending) throw new Problem("Sign up first.");
	await cognito("ConfirmSignUp", { Username: pending.email, ConfirmationCode: code.trim() });
	await signIn(pending.email, pending.password);
	pending = null;
	$("#confirm").hidden = true;
	await showSignedIn();
});

$("#sign-out").addEventListener("click", () => signOut());

$(".new-todo").addEventListener("keydown", (event) => {
	if (event.key !== ENTER || event.isComposing) return;
	event.preventDefault(); // else, if this sign-out moves focus to a form, Enter submits it
	const title = event.target.value.trim();
	event.target.value = "";
	if (title) add(title);
});

$("#toggle-all").addEventListener("change", (event) => toggleAll(event.target.checked));
$(".clear-completed").addEventListener("click", clearCompleted);
$("#undo").addEventListener("click", undo);
window.addEventListener("hashchange", render);

if (session()) await showSignedIn();
else showSignedOut();
