#include "tls/pem.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>

#include "tls/san_verifier.hpp"

namespace outrigger::tls {

namespace {

struct bio_deleter {
    void operator()(BIO* b) const noexcept { BIO_free(b); }
};
using bio_ptr = std::unique_ptr<BIO, bio_deleter>;

bio_ptr memory_bio(std::string_view data) {
    if (data.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
        return nullptr;
    }
    return bio_ptr(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

std::string quoted(std::string_view s) {
    std::string out;
    out.reserve(s.size() + 2);
    out += '\'';
    out += s;
    out += '\'';
    return out;
}

std::string with_detail(std::string msg) {
    std::string detail = drain_openssl_errors();
    if (!detail.empty()) {
        msg += " (";
        msg += detail;
        msg += ')';
    }
    return msg;
}

}  // namespace

void private_key_deleter::operator()(EVP_PKEY* key) const noexcept {
    EVP_PKEY_free(key);
}

std::string drain_openssl_errors() {
    std::string out;
    for (unsigned long e = ERR_get_error(); e != 0; e = ERR_get_error()) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof buf);
        if (!out.empty()) {
            out += "; ";
        }
        out += buf;
    }
    return out;
}

result<std::string> read_pem_file(const std::string& path, std::string_view what) {
    if (path.empty()) {
        return fail(std::string(what) + ": no file path given");
    }
    errno = 0;
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        const int err = errno;
        return fail("cannot read " + std::string(what) + " " + quoted(path) + ": " +
                    (err != 0 ? std::strerror(err) : "open failed"));
    }
    std::string data;
    char chunk[16384];
    while (in.read(chunk, sizeof chunk) || in.gcount() > 0) {
        data.append(chunk, static_cast<std::size_t>(in.gcount()));
        if (data.size() > max_pem_file_bytes) {
            return fail(std::string(what) + " " + quoted(path) + " is larger than " +
                        std::to_string(max_pem_file_bytes) + " bytes");
        }
    }
    if (in.bad()) {
        return fail("cannot read " + std::string(what) + " " + quoted(path) + ": read error");
    }
    if (data.empty()) {
        return fail(std::string(what) + " " + quoted(path) + " is empty");
    }
    return data;
}

result<std::vector<certificate>> parse_certificates(std::string_view pem, std::string_view origin) {
    ERR_clear_error();
    bio_ptr bio = memory_bio(pem);
    if (!bio) {
        return fail(with_detail("cannot parse certificates in " + quoted(origin)));
    }
    std::vector<certificate> certs;
    for (;;) {
        X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
        if (x == nullptr) {
            break;
        }
        certs.emplace_back(x);
    }
    // The loop always ends on an error ("no start line" at EOF is the normal end).
    const unsigned long last = ERR_peek_last_error();
    const bool clean_eof = ERR_GET_LIB(last) == ERR_LIB_PEM &&
                           ERR_GET_REASON(last) == PEM_R_NO_START_LINE;
    if (!certs.empty() && clean_eof) {
        ERR_clear_error();
        return certs;
    }
    if (certs.empty()) {
        ERR_clear_error();
        return fail("no PEM certificate found in " + std::string(quoted(origin)) +
                    " (expected '-----BEGIN CERTIFICATE-----')");
    }
    return fail(with_detail("malformed PEM certificate #" + std::to_string(certs.size() + 1) +
                            " in " + quoted(origin)));
}

result<std::vector<certificate>> load_certificates_file(const std::string& path) {
    auto data = read_pem_file(path, "certificate file");
    if (!data) {
        return fail(data.error());
    }
    return parse_certificates(data.value(), path);
}

result<private_key> parse_private_key(std::string_view pem, std::string_view origin) {
    ERR_clear_error();
    bio_ptr bio = memory_bio(pem);
    if (!bio) {
        return fail(with_detail("cannot parse private key in " + quoted(origin)));
    }
    // A null password callback with an empty password makes encrypted keys fail instead of
    // prompting on the terminal.
    char empty_password[] = "";
    private_key key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, empty_password));
    if (!key) {
        const unsigned long last = ERR_peek_last_error();
        if (ERR_GET_LIB(last) == ERR_LIB_PEM && ERR_GET_REASON(last) == PEM_R_NO_START_LINE) {
            ERR_clear_error();
            return fail("no PEM private key found in " + quoted(origin) +
                        " (expected '-----BEGIN PRIVATE KEY-----')");
        }
        return fail(with_detail("cannot load private key from " + quoted(origin) +
                                " (malformed or encrypted)"));
    }
    ERR_clear_error();
    return key;
}

result<private_key> load_private_key_file(const std::string& path) {
    auto data = read_pem_file(path, "private key file");
    if (!data) {
        return fail(data.error());
    }
    auto key = parse_private_key(data.value(), path);
    // Do not keep key material around longer than needed.
    OPENSSL_cleanse(data.value().data(), data.value().size());
    return key;
}

}  // namespace outrigger::tls
