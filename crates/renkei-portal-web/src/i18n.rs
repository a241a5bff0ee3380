//! Japanese (the default) and English. Every text a page shows is a key
//! here with both languages; a test checks every key the templates use.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Ja,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Self::Ja => "ja",
            Self::En => "en",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ja" => Some(Self::Ja),
            "en" => Some(Self::En),
            _ => None,
        }
    }

    pub fn other(self) -> Self {
        match self {
            Self::Ja => Self::En,
            Self::En => Self::Ja,
        }
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Texts by key: (key, Japanese, English).
pub const TEXTS: &[(&str, &str, &str)] = &[
    ("portal_name", "マイナポータル", "Mynaportal"),
    ("portal_tagline", "renkei 試験ネットワーク", "renkei test network"),
    ("skip_to_main", "本文へ移動", "Skip to main content"),
    ("lang_name", "日本語", "English"),
    ("nav_label", "メニュー", "Menu"),
    ("nav_home", "ホーム", "Home"),
    ("nav_me", "わたしの情報", "My Information"),
    ("nav_history", "やりとり履歴", "Exchange history"),
    ("nav_notices", "お知らせ", "Notices"),
    ("nav_account", "公金受取口座", "Public-fund account"),
    ("nav_proxies", "代理人", "Proxies"),
    ("nav_consents", "連携サービス", "Connected services"),
    ("logout", "ログアウト", "Log out"),
    ("login", "ログイン", "Log in"),
    (
        "landing_lead",
        "マイナンバーカードでログインすると、行政機関が保有するあなたの情報、情報のやりとりの記録、お知らせ、公金受取口座、代理人を確認できます。",
        "Log in with your My Number Card to see the information public bodies hold about you, the record of every exchange of it, your notices, your public-fund account and your proxies.",
    ),
    (
        "login_title",
        "マイナンバーカードでログイン",
        "Log in with your My Number Card",
    ),
    ("login_code_label", "確認コード", "Code"),
    (
        "login_match_label",
        "カードアプリで、この番号を入力してください",
        "Enter this number in the card app",
    ),
    (
        "login_browser",
        "このブラウザの接続元（カードアプリにも表示されます）:",
        "This browser's address (the card app shows it too):",
    ),
    (
        "login_match_refused",
        "カードアプリで入力された番号が、この画面の番号と一致しませんでした。このログインは取り消されました。ご自身で始めたログインでなければ、誰かがあなたのカードでのログインを試みています。",
        "The number entered in the card app was not the one on this screen. This login is cancelled. If you did not start it yourself, someone tried to log in with your card.",
    ),
    (
        "login_scan",
        "カードアプリでQRコードを読み取るか、確認コードを入力して承認してください。",
        "Scan the QR code with the card app, or enter the code in it, and approve.",
    ),
    (
        "login_cli",
        "コマンドで承認する場合:",
        "To approve from the command line:",
    ),
    (
        "login_waiting",
        "カードでの承認を待っています…",
        "Waiting for approval with your card…",
    ),
    ("login_done_button", "承認しました", "I have approved"),
    (
        "login_not_yet",
        "まだ承認されていません。カードアプリで承認してから、もう一度押してください。",
        "Not approved yet. Approve in the card app, then press the button again.",
    ),
    (
        "login_expired",
        "確認コードの有効期限が切れました。もう一度ログインしてください。",
        "The code has expired. Please log in again.",
    ),
    (
        "login_restart",
        "新しいコードでやり直す",
        "Start again with a new code",
    ),
    ("qr_label", "承認用のQRコード", "QR code for approval"),
    (
        "session_expired",
        "一定時間操作がなかったため、ログアウトしました。もう一度ログインしてください。",
        "You were logged out after a period of inactivity. Please log in again.",
    ),
    ("logged_out", "ログアウトしました。", "You have logged out."),
    ("home_title", "ホーム", "Home"),
    (
        "home_lead",
        "ご利用になるメニューを選んでください。",
        "Choose what you want to see.",
    ),
    ("home_unread", "未読のお知らせ", "Unread notices"),
    ("card_profile", "カードの方式", "Card type"),
    ("me_title", "わたしの情報", "My Information"),
    (
        "me_lead",
        "各機関から情報提供ネットワークを通じて、いま取得した情報です（本人への情報提供として記録されます）。",
        "Fetched just now from each institution through the information provision network (recorded as a disclosure to you).",
    ),
    ("me_source", "提供元", "Source"),
    ("me_fetched", "取得日時", "Fetched"),
    ("me_updated", "更新日", "Updated"),
    ("fiscal_year", "年度", "Fiscal year"),
    (
        "me_no_data",
        "提供された情報はありません",
        "No information was provided",
    ),
    (
        "me_unavailable",
        "取得できませんでした（時間をおいてお試しください）",
        "Could not be fetched (please try again later)",
    ),
    (
        "chart_title",
        "特定健診の結果の推移",
        "Health checkups over the years",
    ),
    (
        "chart_systolic",
        "収縮期血圧 (mmHg)",
        "Systolic blood pressure (mmHg)",
    ),
    ("chart_hba1c", "HbA1c（％）", "HbA1c (%)"),
    ("chart_table", "数値の一覧", "Values"),
    ("history_title", "やりとり履歴", "Exchange history"),
    (
        "history_lead",
        "あなたの情報が、いつ、どの機関の間で、何のためにやりとりされたかの記録です。各記録は、ハブが署名したチェックポイントに含まれることを検証しています。",
        "When your information was exchanged, between which institutions and for what. Each record is checked to be in the log the hub signed.",
    ),
    (
        "history_checkpoint",
        "署名を検証したチェックポイントの大きさ",
        "Size of the verified, signed checkpoint",
    ),
    ("filter_legend", "絞り込み", "Filter"),
    ("filter_institution", "機関", "Institution"),
    ("filter_office_work", "事務", "Office work"),
    ("filter_from", "開始日", "From"),
    ("filter_to", "終了日", "To"),
    ("filter_all", "すべて", "All"),
    ("filter_apply", "絞り込む", "Apply"),
    ("history_count", "件数", "Records"),
    ("history_verified", "検証済み", "Verified"),
    (
        "history_pending",
        "次のチェックポイント待ち",
        "Awaiting the next checkpoint",
    ),
    ("history_failed", "検証できません", "Failed verification"),
    ("col_date", "日時", "Date"),
    ("col_requester", "照会機関", "Requester"),
    ("col_provider", "提供機関", "Provider"),
    ("col_work", "事務", "Office work"),
    ("col_item", "情報", "Information"),
    ("col_outcome", "結果", "Outcome"),
    ("col_proof", "証明", "Proof"),
    ("history_delayed", "開示延期", "Disclosure delayed"),
    ("history_none", "該当する記録はありません。", "No records."),
    ("page_prev", "前へ", "Previous"),
    ("page_next", "次へ", "Next"),
    ("notices_title", "お知らせ", "Notices"),
    ("notice_unread", "未読", "Unread"),
    ("notice_read", "既読", "Read"),
    ("notice_mark_read", "既読にする", "Mark as read"),
    ("notices_none", "お知らせはありません。", "No notices."),
    ("nav_mailbox", "私書箱", "Mailbox"),
    ("mailbox_title", "私書箱", "Mailbox"),
    (
        "mailbox_lead",
        "連携した会社などから届いた控除証明書や源泉徴収票です。確定申告の下書きに使えます。",
        "Certificates and withholding slips from the companies you linked. The draft tax return uses them.",
    ),
    (
        "mailbox_off",
        "この窓口では私書箱を使えません。",
        "The mailbox is not available here.",
    ),
    ("mailbox_none", "届いた書類はありません。", "No documents."),
    ("mailbox_year", "年分", "Tax year"),
    ("mailbox_type", "書類の種類", "Document type"),
    ("mailbox_tax_year", "年分", "Tax year"),
    ("mailbox_versions", "版", "Versions"),
    ("mailbox_voided", "取消し", "Voided"),
    (
        "mailbox_superseded",
        "この書類は訂正されています。最新の版をご覧ください。",
        "This document was corrected; see the latest version.",
    ),
    (
        "mailbox_export",
        "すべてをダウンロード（JSON・CSV）",
        "Download everything (JSON and CSV)",
    ),
    ("mailbox_senders", "連携している送付元", "Linked senders"),
    (
        "mailbox_no_links",
        "連携している送付元はありません。",
        "No linked senders.",
    ),
    ("mailbox_reference", "送付元での番号", "Your number at the sender"),
    (
        "mailbox_reference_help",
        "従業員番号や証券番号など、送付元から案内された番号（任意）。送付元があなたを見分けるために使います。",
        "The employee, policy or customer number the sender gave you (optional), so that it can tell it is you.",
    ),
    ("mailbox_link_ended", "連携解除済み", "Unlinked"),
    ("mailbox_unlink", "連携を解除", "Unlink"),
    ("mailbox_link_action", "送付元と連携", "Link a sender"),
    ("mailbox_sender", "送付元", "Sender"),
    (
        "mailbox_linked",
        "送付元と連携しました。",
        "The sender is linked.",
    ),
    (
        "mailbox_unlinked",
        "連携を解除しました。以後この送付元からは届きません。",
        "Unlinked: this sender can no longer deposit for you.",
    ),
    (
        "mailbox_deleted",
        "書類を削除しました。",
        "The document was deleted.",
    ),
    (
        "mailbox_err_sender",
        "その送付元とは連携できません。",
        "That sender cannot be linked.",
    ),
    ("mailbox_document_title", "書類", "Document"),
    ("mailbox_document_id", "書類番号", "Document number"),
    ("mailbox_deposited", "受付日時", "Received"),
    ("mailbox_opened", "初めて開いた日時", "First opened"),
    ("mailbox_signature", "電子署名", "Signature"),
    (
        "mailbox_sig_valid",
        "送付元の署名を確認しました",
        "Signed by the sender (verified)",
    ),
    ("mailbox_sig_no_kid", "鍵番号なし", "no key id"),
    (
        "mailbox_sig_key_gone",
        "受付時に確認済み（送付元の鍵はその後更新されました）",
        "Verified when received (the sender has since replaced its key)",
    ),
    ("mailbox_sig_unknown_sender", "送付元が不明です", "Unknown sender"),
    (
        "mailbox_sig_network",
        "送付元機関からネットワーク経由で受信（機関の署名と暗号化を確認済み・提供記録）",
        "Received through the network from the institution (its signature and sealing verified; exchange record)",
    ),
    ("mailbox_contents", "内容", "Contents"),
    ("mailbox_history", "訂正の履歴", "Version history"),
    ("mailbox_download", "ダウンロード（JSON）", "Download (JSON)"),
    ("mailbox_back", "私書箱に戻る", "Back to the mailbox"),
    ("mailbox_delete", "私書箱から削除", "Delete from the mailbox"),
    (
        "mailbox_delete_help",
        "すべての版が私書箱から消えます。送付元と税務署の控えは残ります。",
        "Every version leaves your mailbox. The sender's and the tax office's copies stay.",
    ),
    ("draft_title", "確定申告の下書き", "Draft tax return"),
    (
        "draft_lead",
        "私書箱の書類から計算した所得税の確定申告書の下書きです。各金額の根拠となった書類と規定を示します。",
        "A draft income tax return computed from the documents in your mailbox, each figure with the documents and the rule it came from.",
    ),
    ("draft_figure", "項目", "Figure"),
    ("draft_amount", "金額（円）", "Amount (yen)"),
    ("draft_from", "根拠", "From"),
    (
        "draft_download",
        "下書きをダウンロード（JSON）",
        "Download the draft (JSON)",
    ),
    ("notice_from", "差出人", "From"),
    ("account_title", "公金受取口座", "Public-fund receiving account"),
    (
        "account_lead",
        "給付金などを受け取る、ご本人名義の口座を一つ登録できます。",
        "Register one account in your own name to receive benefits.",
    ),
    ("account_current", "登録中の口座", "Registered account"),
    (
        "account_none",
        "登録されている口座はありません。",
        "No account is registered.",
    ),
    (
        "account_form",
        "口座を登録・変更する",
        "Register or change the account",
    ),
    ("bank_code", "金融機関コード（4桁）", "Bank code (4 digits)"),
    ("branch_code", "支店コード（3桁）", "Branch code (3 digits)"),
    ("account_kind", "預金種目", "Account type"),
    ("account_number", "口座番号（7桁）", "Account number (7 digits)"),
    ("holder_kana", "口座名義（カナ）", "Account holder (katakana)"),
    ("kind_ordinary", "普通", "Ordinary"),
    ("kind_current", "当座", "Current"),
    ("kind_savings", "貯蓄", "Savings"),
    ("account_next", "確認へ進む", "Continue"),
    (
        "account_saved",
        "公金受取口座を登録しました。",
        "Your public-fund account is registered.",
    ),
    (
        "err_four_digits",
        "4桁の数字で入力してください。",
        "Enter 4 digits.",
    ),
    (
        "err_three_digits",
        "3桁の数字で入力してください。",
        "Enter 3 digits.",
    ),
    (
        "err_seven_digits",
        "7桁の数字で入力してください。",
        "Enter 7 digits.",
    ),
    (
        "err_unknown_bank",
        "この金融機関コードは登録できません。",
        "This bank code is not accepted.",
    ),
    (
        "err_unknown_kind",
        "預金種目を選んでください。",
        "Choose an account type.",
    ),
    (
        "err_katakana",
        "カタカナで入力してください。",
        "Enter the name in katakana.",
    ),
    (
        "err_form",
        "入力内容を確認してください。",
        "Please check what you entered.",
    ),
    ("confirm_title", "カードで確定", "Confirm with your card"),
    (
        "confirm_lead",
        "この操作を確定するには、もう一度マイナンバーカードで本人確認してください（共用の端末で他の方が操作することを防ぐためです）。",
        "To commit this, confirm with your My Number Card once more (so that nobody else can do it on a shared device).",
    ),
    ("confirm_action", "確定する内容", "What you confirm"),
    ("confirm_button", "確定する", "Commit"),
    (
        "confirm_not_yet",
        "まだカードで承認されていません。",
        "Not approved with the card yet.",
    ),
    (
        "confirm_wrong_card",
        "ログインしている方とは別のカードで承認されました。確定できません。",
        "A card other than the logged-in person's approved this; it cannot be committed.",
    ),
    (
        "confirm_gone",
        "この確認は有効期限が切れたか、すでに使われています。最初からやり直してください。",
        "This confirmation has expired or was already used. Please start again.",
    ),
    ("cancel", "やめる", "Cancel"),
    (
        "consent_title",
        "情報提供への同意",
        "Consent to share your information",
    ),
    (
        "consent_lead",
        "次の事業者が、あなたの情報の提供を求めています。送られる内容をそのまま表示しています。",
        "The service below asks for your information. This is exactly what would be sent.",
    ),
    ("consent_corporate_number", "法人番号", "Corporate number"),
    ("consent_purpose", "利用目的", "Purpose"),
    (
        "consent_client_purpose",
        "事業者の登録目的",
        "The service's registered purpose",
    ),
    ("consent_data_life", "保存期間", "Kept for"),
    ("consent_days", "日", "days"),
    ("consent_frequency", "提供の回数", "How often"),
    ("consent_one_time", "1回のみ", "Once"),
    ("consent_periodic", "定期的に", "Periodically"),
    ("consent_what", "提供される情報", "What would be sent"),
    ("consent_source", "提供元", "Source"),
    (
        "consent_no_data",
        "該当する情報はありません",
        "No information held",
    ),
    (
        "consent_card_note",
        "同意するときは、マイナンバーカードでもう一度確認します。",
        "To agree, you confirm once more with your card.",
    ),
    ("consent_approve", "同意する", "Agree"),
    (
        "consents_title",
        "連携サービスへの同意",
        "Your consents to services",
    ),
    (
        "consents_lead",
        "あなたが情報の提供に同意した事業者と、実際に提供された記録です。同意はいつでも取り消せます。",
        "The services you agreed to share information with, and what they actually received. You can revoke a consent at any time.",
    ),
    (
        "consents_none",
        "同意はまだありません。",
        "You have not consented to any service yet.",
    ),
    ("consents_given", "同意した日時", "Given"),
    ("consents_until", "有効期限", "Valid until"),
    ("consents_status", "状態", "Status"),
    ("consents_fetches", "提供の記録", "What was sent"),
    ("consents_received", "が次の情報を受け取りました:", "received"),
    ("consents_refused", "からの取得は拒否されました", "was refused"),
    ("consents_failed", "への提供は失敗しました", "could not be served"),
    ("consents_revoke", "同意を取り消す", "Revoke this consent"),
    ("consent_status_active", "有効", "Active"),
    ("consent_status_expired", "期限切れ", "Expired"),
    ("consent_status_revoked", "取り消し済み", "Revoked"),
    ("consent_decline", "同意しない", "Decline"),
    (
        "consent_confirm_text",
        "情報提供への同意",
        "Consent to share information",
    ),
    (
        "consent_bad_request",
        "この同意の依頼は正しくありません。事業者のサービスからやり直してください。",
        "This request is not valid. Please start again from the service.",
    ),
    (
        "consent_gone",
        "この同意の依頼は期限が切れたか、すでに使われています。事業者のサービスからやり直してください。",
        "This request has expired or was already used. Please start again from the service.",
    ),
    (
        "consent_client_inactive",
        "この事業者は現在、情報の提供を受けられません。",
        "This service cannot receive information at present.",
    ),
    (
        "proof_login_again",
        "ご本人の確認が必要です。マイナンバーカードでもう一度ログインしてください。",
        "Your card confirmation is needed. Please log in again with your My Number Card.",
    ),
    (
        "proof_proxy_unconfirmed",
        "この代理は、ご本人のカードで確認されていないため、ご本人の情報をネットワークから取得できません。ご本人による確認が必要です。",
        "This proxy was not confirmed with the person's own card, so their information cannot be obtained through the network. The person must confirm it.",
    ),
    (
        "consent_not_as_proxy",
        "代理人として同意することはできません。ご本人のカードでログインしてください。",
        "You cannot consent as a proxy. Please log in with the person's own card.",
    ),
    ("proxies_title", "代理人", "Proxies"),
    (
        "proxies_lead",
        "代理人は、ご自身のマイナンバーカードで、決められた範囲と期間だけ、あなたの代わりに操作できます。取り消せるのはあなただけです。",
        "A proxy acts for you with their own My Number Card, within the scope and period you set. Only you can revoke it.",
    ),
    ("proxies_mine", "あなたの代理人", "Your proxies"),
    (
        "proxies_theirs",
        "あなたが代理人となっている方",
        "People you act for",
    ),
    ("proxies_none", "ありません。", "None."),
    ("proxy_scope", "範囲", "Scope"),
    ("proxy_period", "期間", "Period"),
    ("proxy_status", "状態", "Status"),
    ("proxy_basis", "根拠", "Basis"),
    (
        "proxy_basis_principal",
        "ご本人による指定",
        "Appointed by the principal",
    ),
    (
        "proxy_basis_guardian",
        "成年後見（審判）",
        "Guardianship (court decision)",
    ),
    ("status_active", "有効", "Active"),
    (
        "status_on_hold",
        "保留中（カードの状態が変わったため、ご本人の再確認が必要です）",
        "On hold (a card changed; the principal must confirm again)",
    ),
    ("status_revoked", "取消済み", "Revoked"),
    ("proxy_revoke", "取り消す", "Revoke"),
    ("proxy_confirm", "再確認する", "Confirm again"),
    ("proxy_act", "この方の代理として操作する", "Act for this person"),
    ("proxy_person", "相手", "Person"),
    ("proxy_invite_title", "代理人を指定する", "Appoint a proxy"),
    (
        "proxy_invite_lead",
        "範囲と期間を決めて招待コードを作り、代理人となる方に伝えてください。代理人はご自身のカードでログインしてコードを入力します。",
        "Choose the scope and period to create an invitation code, and give it to your proxy. They log in with their own card and enter the code.",
    ),
    (
        "proxy_invite_button",
        "招待コードを作る",
        "Create an invitation code",
    ),
    ("proxy_invitation_code", "招待コード", "Invitation code"),
    (
        "proxy_invitation_made",
        "招待コードを作りました。7日以内に代理人に入力してもらってください。",
        "The invitation code is ready. Your proxy must enter it within 7 days.",
    ),
    ("proxy_accept_title", "代理人になる", "Become a proxy"),
    ("proxy_accept_button", "招待を受ける", "Accept the invitation"),
    (
        "proxy_accepted",
        "代理人として登録されました。",
        "You are registered as the proxy.",
    ),
    (
        "proxy_revoked",
        "代理人を取り消しました。",
        "The proxy was revoked.",
    ),
    (
        "proxy_confirmed",
        "代理人を再確認しました。",
        "The proxy is confirmed again.",
    ),
    (
        "proxy_acts_title",
        "代理人による操作の記録",
        "What proxies did for you",
    ),
    ("proxy_actor", "操作した方", "By"),
    ("proxy_action", "操作", "Action"),
    ("acting_for", "代理として操作中", "Acting as proxy"),
    ("acting_stop", "代理をやめる", "Stop acting as proxy"),
    ("scope_my_information", "わたしの情報", "My Information"),
    ("scope_history", "やりとり履歴", "Exchange history"),
    ("scope_notices", "お知らせ", "Notices"),
    ("scope_account", "公金受取口座", "Public-fund account"),
    ("error_title", "エラー", "Error"),
    ("error_back", "ホームへ戻る", "Back to home"),
    (
        "error_forbidden",
        "この操作はできません。",
        "This is not allowed.",
    ),
    (
        "error_csrf",
        "フォームの有効期限が切れたか、別のサイトから送信されました。ページを開き直してください。",
        "The form has expired or was sent from another site. Please reload the page.",
    ),
    ("error_not_found", "ページが見つかりません。", "Page not found."),
    (
        "error_unavailable",
        "一時的に利用できません。時間をおいてお試しください。",
        "Temporarily unavailable. Please try again later.",
    ),
    (
        "error_bad_input",
        "入力内容が正しくありません。",
        "What was sent is not valid.",
    ),
    (
        "login_too_many",
        "このネットワークからのログインの要求が多すぎます。しばらくおいてから、もう一度お試しください。",
        "Too many login requests from this network. Please wait a moment and try again.",
    ),
];

static MISSING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// How many times, in this process, a page asked for a text that does not
/// exist (and showed its key instead).
pub fn missing_texts() -> usize {
    MISSING.load(std::sync::atomic::Ordering::Relaxed)
}

/// The texts of one language.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tr {
    pub lang: Lang,
}

impl Tr {
    pub fn new(lang: Lang) -> Self {
        Self { lang }
    }

    /// The text for `key`. An unknown key (a key built at run time that
    /// has no text) shows as itself, is logged as an error and counted in
    /// [`missing_texts`], which the portal's tests require to stay 0.
    pub fn s<'a>(&self, key: &'a str) -> &'a str {
        match TEXTS.iter().find(|(k, _, _)| *k == key) {
            Some((_, ja, en)) => match self.lang {
                Lang::Ja => ja,
                Lang::En => en,
            },
            None => {
                MISSING.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                metrics::counter!("renkei_portal_missing_texts_total").increment(1);
                tracing::error!(
                    key,
                    lang = self.lang.code(),
                    "a page asked for a text that does not exist"
                );
                key
            }
        }
    }

    pub fn code(&self) -> &'static str {
        self.lang.code()
    }

    /// The other language's name in itself (for the switch).
    pub fn other_name(&self) -> &'static str {
        match self.lang {
            Lang::Ja => "English",
            Lang::En => "日本語",
        }
    }

    pub fn other_code(&self) -> &'static str {
        self.lang.other().code()
    }

    /// Japanese or English of a bilingual pair.
    pub fn pick<'a>(&self, ja: &'a str, en: &'a str) -> &'a str {
        match self.lang {
            Lang::Ja => ja,
            Lang::En => en,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_text_shows_its_key_and_is_counted() {
        let before = missing_texts();
        assert_eq!(Tr::new(Lang::En).s("nav_home"), "Home");
        assert_eq!(missing_texts(), before);
        // (Through a variable: the scan below reads literal keys.)
        let unknown = "no_such_text";
        assert_eq!(Tr::new(Lang::En).s(unknown), unknown);
        assert_eq!(Tr::new(Lang::Ja).s(unknown), unknown);
        assert_eq!(missing_texts(), before + 2);
    }

    /// Every `s("…")` in the templates and the code names a text that
    /// exists in both languages; no key is defined twice.
    #[test]
    fn every_text_used_exists_in_both_languages() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut used = Vec::new();
        for dir in ["templates", "src"] {
            for entry in std::fs::read_dir(root.join(dir)).unwrap() {
                let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
                for part in text.split(".s(\"").skip(1) {
                    let key: String = part.chars().take_while(|c| *c != '"').collect();
                    if key
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c == '_' || c.is_ascii_digit())
                        && !key.is_empty()
                    {
                        used.push(key);
                    }
                }
            }
        }
        assert!(used.len() > 50, "found only {} uses", used.len());
        for key in &used {
            assert!(
                TEXTS.iter().any(|(k, _, _)| k == key),
                "text {key:?} is used but not defined"
            );
        }
        let mut keys: Vec<_> = TEXTS.iter().map(|(k, _, _)| *k).collect();
        keys.sort();
        let n = keys.len();
        keys.dedup();
        assert_eq!(keys.len(), n, "a key is defined twice");
        for (k, ja, en) in TEXTS {
            assert!(!ja.is_empty() && !en.is_empty(), "{k}");
            assert_ne!(ja, en, "{k}: the Japanese text is the English one");
        }
        // Field-error keys built at run time.
        for problem in [
            "four_digits",
            "three_digits",
            "seven_digits",
            "unknown_bank",
            "unknown_kind",
            "katakana",
        ] {
            assert!(
                TEXTS.iter().any(|(k, _, _)| *k == format!("err_{problem}")),
                "{problem}"
            );
        }
    }
}
