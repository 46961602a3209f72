// Viewer-request function on the API behaviours: the Lambda function URL only accepts
// its own Host header, so the host the browser used is passed on as X-Forwarded-Host.
// A client-supplied X-Forwarded-Host is overwritten here.
function handler(event) {
  var request = event.request;
  if (request.headers.host) {
    request.headers['x-forwarded-host'] = { value: request.headers.host.value };
  }
  return request;
}
