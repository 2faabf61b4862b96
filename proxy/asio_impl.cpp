// Separate compilation of Asio, Asio SSL and Beast: compiled once into outrigger_asio, so no other
// translation unit instantiates their out-of-line code (keeps the 2-core build fast).
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
