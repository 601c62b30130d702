#pragma once
// Every file picker, question and desktop hand-off of the studio goes through Prompts, so the
// studio never runs a nested event loop (the dialogs are opened window-modal with open(), and
// answer through a callback) and tests can answer them instead of a person (ScriptedPrompts).

#include <QString>
#include <QStringList>
#include <deque>
#include <functional>

class QWidget;

namespace lms::ui {

class Prompts {
public:
    // Receives the chosen path, or an empty string when the person cancelled.
    using PathCallback = std::function<void(const QString&)>;
    using AnswerCallback = std::function<void(bool accepted)>;

    virtual ~Prompts() = default;
    virtual void chooseFile(QWidget* parent, const QString& title, const QString& startDir,
                            const QString& filter, PathCallback done) = 0;
    // A file to write (it need not exist; whether to replace one is the caller's question).
    virtual void chooseSaveFile(QWidget* parent, const QString& title, const QString& startPath,
                                const QString& filter, PathCallback done) = 0;
    virtual void chooseDirectory(QWidget* parent, const QString& title, const QString& startDir,
                                 PathCallback done) = 0;
    // A yes/no question; `acceptLabel` names the action ("Replace").
    virtual void confirm(QWidget* parent, const QString& title, const QString& text,
                         const QString& acceptLabel, AnswerCallback done) = 0;
    // An informational box (rich text allowed); returns at once.
    virtual void inform(QWidget* parent, const QString& title, const QString& text) = 0;
    // Shows a folder in the desktop's file manager; false when that failed (no file manager, no
    // desktop session), so the caller can say where the folder is instead.
    virtual bool openFolder(const QString& path) = 0;
};

// The prompts in use: the real dialogs unless a test installed others with setPrompts().
Prompts& prompts();
// Installs `override` (not owned; nullptr restores the real dialogs).
void setPrompts(Prompts* override);

// Non-blocking Qt dialogs.
class DialogPrompts final : public Prompts {
public:
    void chooseFile(QWidget* parent, const QString& title, const QString& startDir, const QString& filter,
                    PathCallback done) override;
    void chooseSaveFile(QWidget* parent, const QString& title, const QString& startPath,
                        const QString& filter, PathCallback done) override;
    void chooseDirectory(QWidget* parent, const QString& title, const QString& startDir,
                         PathCallback done) override;
    void confirm(QWidget* parent, const QString& title, const QString& text, const QString& acceptLabel,
                 AnswerCallback done) override;
    void inform(QWidget* parent, const QString& title, const QString& text) override;
    bool openFolder(const QString& path) override;
};

// Answers from queues that a test fills beforehand, and records what was asked. An empty
// queue answers "cancelled" / "no".
class ScriptedPrompts final : public Prompts {
public:
    std::deque<QString> nextPaths;
    std::deque<bool> nextAnswers;
    QStringList asked;            // titles of every prompt, in order
    QStringList informed;         // texts given to inform()
    QStringList openedFolders;    // paths given to openFolder()
    bool openFolderWorks = true;  // what openFolder() answers

    void chooseFile(QWidget* parent, const QString& title, const QString& startDir, const QString& filter,
                    PathCallback done) override;
    void chooseSaveFile(QWidget* parent, const QString& title, const QString& startPath,
                        const QString& filter, PathCallback done) override;
    void chooseDirectory(QWidget* parent, const QString& title, const QString& startDir,
                         PathCallback done) override;
    void confirm(QWidget* parent, const QString& title, const QString& text, const QString& acceptLabel,
                 AnswerCallback done) override;
    void inform(QWidget* parent, const QString& title, const QString& text) override;
    bool openFolder(const QString& path) override;

private:
    QString takePath();
};

}  // namespace lms::ui
