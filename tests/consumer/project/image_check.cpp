// Links the installed image decoders through wrapq::image. A PNG and a JPEG
// that end after their signatures must be rejected with the reason that
// libpng's read callback and libjpeg give for a truncated file. Exits
// non-zero when either is accepted or rejected for another reason.
#include <wrapq/image.hpp>

#include <cstddef>
#include <cstdio>
#include <span>
#include <string>

namespace {

bool rejected_as_truncated(const std::string& bytes, const std::string& name, const std::string& reason) {
    try {
        (void)wrapq::image::decode_image(std::as_bytes(std::span(bytes.data(), bytes.size())), name);
    } catch (const wrapq::format_error& e) {
        std::printf("%s\n", e.what());
        return std::string(e.what()).find(reason) != std::string::npos;
    }
    std::printf("%s: accepted, but it ends after its signature\n", name.c_str());
    return false;
}

}  // namespace

int main() {
    const bool png = rejected_as_truncated(std::string("\x89PNG\r\n\x1a\n", 8), "signature.png",
                                           "ends in the middle of the PNG data");
    const bool jpeg = rejected_as_truncated(std::string("\xFF\xD8\xFF", 3), "signature.jpg", "Premature end of JPEG file");
    return png && jpeg ? 0 : 1;
}
