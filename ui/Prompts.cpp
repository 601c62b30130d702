#include "Prompts.h"

#include <QDesktopServices>
#include <QFileDialog>
#include <QMessageBox>
#include <QPushButton>
#include <QUrl>

namespace lms::ui {
namespace {

// Opens `dialog` (QDialog::open, so not blocking) and calls `done` once: with the chosen path, or
// with an empty string when it is dismissed.
void openReportingPath(QFileDialog* dialog, Prompts::PathCallback done) {
    auto answered = std::make_shared<bool>(false);
    QObject::connect(dialog, &QFileDialog::fileSelected, dialog, [done, answered](const QString& path) {
        *answered = true;
        done(path);
    });
    QObject::connect(dialog, &QFileDialog::rejected, dialog, [done, answered] {
        if (!*answered) done(QString());
    });
    dialog->open();
}

Prompts* g_override = nullptr;
}  // namespace

Prompts& prompts() {
    static DialogPrompts dialogs;
    return g_override ? *g_override : dialogs;
}

void setPrompts(Prompts* override) {
    g_override = override;
}

void DialogPrompts::chooseFile(QWidget* parent, const QString& title, const QString& startDir,
                               const QString& filter, PathCallback done) {
    auto* dialog = new QFileDialog(parent, title, startDir, filter);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    dialog->setFileMode(QFileDialog::ExistingFile);
    dialog->setObjectName(QStringLiteral("chooseFileDialog"));
    // Exactly one answer: the selected file, or "" when the dialog closes without one.
    openReportingPath(dialog, std::move(done));
}

void DialogPrompts::chooseSaveFile(QWidget* parent, const QString& title, const QString& startPath,
                                   const QString& filter, PathCallback done) {
    auto* dialog = new QFileDialog(parent, title, startPath, filter);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    dialog->setAcceptMode(QFileDialog::AcceptSave);
    dialog->setFileMode(QFileDialog::AnyFile);
    // An existing file is the core's refusal (or the merge's Replace question), not the dialog's.
    dialog->setOption(QFileDialog::DontConfirmOverwrite);
    dialog->setObjectName(QStringLiteral("chooseSaveFileDialog"));
    openReportingPath(dialog, std::move(done));
}

void DialogPrompts::chooseDirectory(QWidget* parent, const QString& title, const QString& startDir,
                                    PathCallback done) {
    auto* dialog = new QFileDialog(parent, title, startDir);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    dialog->setFileMode(QFileDialog::Directory);
    dialog->setOption(QFileDialog::ShowDirsOnly);
    dialog->setObjectName(QStringLiteral("chooseDirectoryDialog"));
    openReportingPath(dialog, std::move(done));
}

void DialogPrompts::confirm(QWidget* parent, const QString& title, const QString& text,
                            const QString& acceptLabel, AnswerCallback done) {
    auto* box = new QMessageBox(QMessageBox::Question, title, text, QMessageBox::NoButton, parent);
    box->setAttribute(Qt::WA_DeleteOnClose);
    auto* accept = box->addButton(acceptLabel, QMessageBox::AcceptRole);
    box->addButton(QMessageBox::Cancel);
    box->setDefaultButton(QMessageBox::Cancel);
    QObject::connect(box, &QMessageBox::finished, box,
                     [box, accept, done](int) { done(box->clickedButton() == accept); });
    box->open();
}

void DialogPrompts::inform(QWidget* parent, const QString& title, const QString& text) {
    auto* box = new QMessageBox(QMessageBox::Information, title, text, QMessageBox::Ok, parent);
    box->setAttribute(Qt::WA_DeleteOnClose);
    box->setTextFormat(Qt::RichText);
    box->setTextInteractionFlags(Qt::TextBrowserInteraction);
    box->open();
}

bool DialogPrompts::openFolder(const QString& path) {
    return QDesktopServices::openUrl(QUrl::fromLocalFile(path));
}

QString ScriptedPrompts::takePath() {
    if (nextPaths.empty()) return QString();
    QString path = nextPaths.front();
    nextPaths.pop_front();
    return path;
}

void ScriptedPrompts::chooseFile(QWidget*, const QString& title, const QString&, const QString&,
                                 PathCallback done) {
    asked << title;
    done(takePath());
}

void ScriptedPrompts::chooseSaveFile(QWidget*, const QString& title, const QString&, const QString&,
                                     PathCallback done) {
    asked << title;
    done(takePath());
}

void ScriptedPrompts::chooseDirectory(QWidget*, const QString& title, const QString&, PathCallback done) {
    asked << title;
    done(takePath());
}

void ScriptedPrompts::confirm(QWidget*, const QString& title, const QString&, const QString&,
                              AnswerCallback done) {
    asked << title;
    bool answer = false;
    if (!nextAnswers.empty()) {
        answer = nextAnswers.front();
        nextAnswers.pop_front();
    }
    done(answer);
}

void ScriptedPrompts::inform(QWidget*, const QString& title, const QString& text) {
    asked << title;
    informed << text;
}

bool ScriptedPrompts::openFolder(const QString& path) {
    openedFolders << path;
    return openFolderWorks;
}

}  // namespace lms::ui
