// The explorer's start-up (served in place of Swagger UI's own swagger-initializer.js): the
// same configuration, plus one plugin.
//
// `filter` and `where` are strings whose content is JSON, and the document says so with
// `contentMediaType: application/json` for client generators. Swagger UI (since 5.21) takes
// any string with a `contentMediaType` for a file to upload and shows a file picker; this
// plugin keeps a text box for JSON strings, so a filter can be typed in.
function JsonStringParameters() {
  return {
    afterLoad() {
      const isFileUpload = this.fn.isFileUploadIntended;
      this.fn.isFileUploadIntended = (schema, mediaType) => {
        const content = schema && schema.get ? schema.get("contentMediaType") : schema?.contentMediaType;
        return content === "application/json" ? false : isFileUpload(schema, mediaType);
      };
    },
  };
}

window.onload = function () {
  window.ui = SwaggerUIBundle({
    dom_id: "#swagger-ui",
    url: "/openapi.json",
    deepLinking: true,
    layout: "StandaloneLayout",
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl, JsonStringParameters],
  });
  document.title = "todo-jwt API explorer";
  // The password dialog asks for the email (as username) and password only: the service has
  // no OAuth clients and no scopes, so Swagger UI's client id, secret, their location and
  // its scope list are hidden.
  const style = document.createElement("style");
  style.textContent = `
    .auth-container .wrapper:has(> label[for^="client_id"]),
    .auth-container .wrapper:has(> label[for^="client_secret"]),
    .auth-container .wrapper:has(> label[for="password_type"]),
    .auth-container .scope-def,
    .auth-container .scopes { display: none; }`;
  document.head.appendChild(style);
};
