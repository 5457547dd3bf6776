#include "daemon/reply_assembler.h"

#include <cmath>
#include <vector>

#include "base/byte_order.h"
#include "ei_bridge/ext_tags.h"

namespace hb {

ReplyAssembler::ReplyAssembler(size_t texts, uint32_t dim, Shape shape, Format format,
                               bool normalize)
    : texts_(texts), dim_(dim), shape_(shape), format_(format), normalize_(normalize) {
  // The exact final size, reserved once: growing a reply of hundreds of MB
  // by doubling would copy it several times and briefly need twice as much.
  size_t row = format == Format::kF32 ? 5 + 4 * size_t{dim} : 5 + 9 * size_t{dim} + 1;
  MutexLock lock(&mu_);
  if (shape == Shape::kMany) {
    out_.reserve(5 + texts * row + 1);
    out_.push_back(static_cast<char>(kListExt));
    AppendBigEndian(&out_, texts, 4);
  } else {
    out_.reserve(row);
  }
}

std::string ReplyAssembler::EncodeRow(const float* row) const {
  std::vector<float> scaled;
  if (normalize_) {
    double norm = 0;
    for (uint32_t k = 0; k < dim_; ++k) norm += double{row[k]} * row[k];
    float inv = norm > 0 ? static_cast<float>(1.0 / std::sqrt(norm)) : 0.0f;
    scaled.assign(row, row + dim_);
    for (float& v : scaled) v *= inv;
    row = scaled.data();
  }
  if (format_ == Format::kFloats) return EncodeFloatList(row, dim_);
  // Little-endian float32, as <<X:32/float-little>> reads (x86-64 and
  // arm64 are little-endian).
  std::string bin;
  bin.reserve(5 + 4 * size_t{dim_});
  bin.push_back(static_cast<char>(kBinaryExt));
  AppendBigEndian(&bin, 4 * size_t{dim_}, 4);
  bin.append(reinterpret_cast<const char*>(row), 4 * size_t{dim_});
  return bin;
}

ReplyAssembler::Progress ReplyAssembler::Put(const TextResult& r) {
  // Encoding happens outside the lock: rows of one call arrive from
  // several instance threads at once.
  std::variant<std::string, Failure> entry;
  if (r.status == HB_OK) {
    entry = EncodeRow(r.row);
  } else {
    entry = Failure{r.index, r.status, std::string(r.message), r.too_long_tokens};
  }
  MutexLock lock(&mu_);
  if (finished_) return Progress::kMore;
  early_.emplace(r.index, std::move(entry));
  return Advance();
}

ReplyAssembler::Progress ReplyAssembler::Advance() {
  for (auto it = early_.begin(); it != early_.end() && it->first == next_;
       it = early_.erase(it), ++next_) {
    if (Failure* f = std::get_if<Failure>(&it->second)) {
      failure_ = std::move(*f);
      finished_ = true;
      early_.clear();
      return Progress::kFailed;
    }
    out_ += std::get<std::string>(it->second);
  }
  if (next_ < texts_) return Progress::kMore;
  if (shape_ == Shape::kMany) out_.push_back(static_cast<char>(kNilExt));
  finished_ = true;
  return Progress::kComplete;
}

Term ReplyAssembler::TakeReply() {
  MutexLock lock(&mu_);
  return Term::Opaque(std::move(out_));
}

ReplyAssembler::Failure ReplyAssembler::TakeFailure() {
  MutexLock lock(&mu_);
  return std::move(failure_);
}

}  // namespace hb
