// The live status page served at GET /: one self-contained HTML document
// (inline CSS and JavaScript, no external assets) that polls /v1/status every
// second. The source is daemon/api/status_page.html, embedded at build time.
#pragma once

namespace lagrouter::daemon {

extern const char kStatusPageHtml[];

}  // namespace lagrouter::daemon
