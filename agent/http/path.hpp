#pragma once
// The normal form of a request path, the one routes are matched against and the one sent to
// the replica, so that what a route saw is what the replica gets (RFC 3986 6.2.2, nginx's rules):
// - percent-encoded unreserved characters (ALPHA DIGIT - . _ ~) are decoded ("/%61dmin" is
//   "/admin"); other percent-encodings stay encoded, with upper-case hex ("%2f" is "%2F": an
//   encoded slash is data, not a separator);
// - runs of slashes collapse ("//admin" is "/admin", nginx's merge_slashes);
// - "." and ".." segments are resolved ("/a/../admin/" is "/admin/").
// Refused (the caller answers 400): a ".." above the root, a malformed or NUL ("%00")
// percent-encoding, a target that is neither "*" nor starts with "/".
// The query is kept byte for byte.

#include <string>
#include <string_view>

namespace dlb::agent::http {

// Writes the normal form of an origin-form target (path and query) into `out`. "*" (OPTIONS)
// is kept as it is. Returns false, with `why` set, when the path cannot be normalised safely.
bool normalizeTarget(std::string_view target, std::string& out, std::string_view* why);

// The value of a hex digit (either case), -1 when `c` is none: for percent-encodings and hex
// digests.
int hexDigitValue(char c);

} // namespace dlb::agent::http
