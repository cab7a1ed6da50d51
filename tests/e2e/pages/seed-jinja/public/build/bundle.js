// The classic tutorial's Jinja variant (testdrivenio/flask-spa-auth, flask-spa-jinja), as its
// built App.svelte behaves: the same component as the same-domain variant (the suite copies
// ../../../seed/build/bundle.js beside this file as seed.js), except for where its CSRF token
// comes from: the `<meta name="csrf-token">` that templates/index.html renders with
// `{{ csrf_token() }}`, read once when the page loads. It never calls /api/getcsrf, and after a
// logout it logs in again with that same token.
window.SEED_TOKEN = document.getElementsByName("csrf-token")[0].content;
const component = document.createElement("script");
component.src = new URL("seed.js", document.currentScript.src).pathname;
document.head.append(component);
