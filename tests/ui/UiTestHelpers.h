#pragma once
// Helpers shared by the studio's panel-level UI tests (tst_mergepanel, tst_requestparity): find a
// child widget, write small files, open a model as the window does, a base with a separate adapter.

#include "TestSupport.h"
#include "UiText.h"
#include "Workspace.h"

#include <QObject>
#include <QtTest>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

namespace lms::ui::test {

template <class T>
T* child(QObject* parent, const char* name) {
    auto* found = parent->findChild<T*>(QString::fromLatin1(name));
    if (!found) qWarning("no child %s", name);
    return found;
}

inline void writeText(const std::filesystem::path& path, const std::string& text) {
    std::filesystem::create_directories(path.parent_path());
    std::ofstream(path) << text;
}

inline std::string petConfig(int alpha, int rank) {
    return "model:\n  model_config:\n    pet_config:\n      pet_type: lora\n      lora_rank: " +
           std::to_string(rank) + "\n      lora_alpha: " + std::to_string(alpha) + "\n";
}

inline std::shared_ptr<const LoadedModel> open(const OpenRequest& request) {
    auto outcome = loadPath(request, nullptr);
    if (!outcome.model) qWarning("%s", qPrintable(outcome.error));
    return outcome.model;
}

inline OpenRequest openOf(const std::filesystem::path& path) {
    OpenRequest request;
    request.path = qs(path);
    return request;
}

// A base checkpoint without LoRA and a LoRA-only adapter for it (MindPet's DELTA_CKP-*.ckpt).
inline void writeBaseAndAdapter(const std::filesystem::path& dir) {
    const auto f32 = [](size_t n, uint32_t seed) {
        return lms::test::floatBytes(DType::Float32, lms::test::randomValues(n, seed));
    };
    lms::test::writeCheckpoint(dir / "base.ckpt", {{"l0.wq.weight", "Float32", {8, 4}, f32(32, 1)},
                                                   {"l0.wk.weight", "Float32", {8, 4}, f32(32, 2)}});
    lms::test::writeCheckpoint(dir / "DELTA_CKP-1_2.ckpt",
                               {{"l0.wq.mindpet_delta_lora_a", "Float32", {2, 4}, f32(8, 3)},
                                {"l0.wq.mindpet_delta_lora_b", "Float32", {8, 2}, f32(16, 4)}});
}

}  // namespace lms::ui::test
