//! `renkei card …`: the software card (the "smartphone app").

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Subcommand, ValueEnum};
use renkei_card::{CardProfile, CardSecret, CertPurpose, SoftwareCard};
use renkei_portal_web::cardapp::CardApp;

#[derive(Subcommand)]
pub(crate) enum CardCommand {
    /// Generate a card's two key pairs in a directory (PIN from
    /// RENKEI_CARD_PIN, signing password from RENKEI_CARD_PASSWORD, else asked).
    Create {
        /// The card's directory (created; its key files are 0600).
        #[arg(long)]
        card: PathBuf,
        /// The card's algorithms.
        #[arg(long, value_enum, default_value = "p384-sha384")]
        profile: ProfileArg,
    },
    /// Have the registry certify the card (the municipal window's step).
    Issue {
        /// The card's directory.
        #[arg(long)]
        card: PathBuf,
        /// The registry's admin URL.
        #[arg(long)]
        registry_admin: String,
        /// The registry's admin token file.
        #[arg(long)]
        token: PathBuf,
        /// The network CA certificate (for the registry's TLS).
        #[arg(long)]
        ca: PathBuf,
        /// The holder's My Number.
        #[arg(long, env = "RENKEI_MY_NUMBER", hide_env_values = true)]
        my_number: String,
    },
    /// Approve a code shown by the portal: login or a confirmation. A
    /// login shows where and when it was asked for, and asks for the
    /// two-digit number shown on that screen (--match, RENKEI_CARD_MATCH,
    /// else typed).
    Approve {
        /// The code, e.g. K7PQ-4XR2.
        code: String,
        /// The two-digit number the login page shows (else typed).
        #[arg(long = "match", env = "RENKEI_CARD_MATCH")]
        match_value: Option<String>,
        /// The portal's URL.
        #[arg(long)]
        portal: String,
        /// The card's directory.
        #[arg(long)]
        card: PathBuf,
        /// A CA certificate to trust for an https portal of the network's CA.
        #[arg(long)]
        ca: Option<PathBuf>,
    },
    /// Sign a file with the card's signing key (RSASSA-PKCS1-v1_5/SHA-256
    /// or ECDSA P-384/SHA-384, as the card's profile).
    Sign {
        /// The card's directory.
        #[arg(long)]
        card: PathBuf,
        /// The file to sign.
        #[arg(long = "in")]
        input: PathBuf,
        /// Where to write the signature.
        #[arg(long)]
        out: PathBuf,
    },
    /// Show the card: profile, serials, validity, the facts it certifies.
    Show {
        /// The card's directory.
        #[arg(long)]
        card: PathBuf,
    },
}

/// The card profiles: the algorithms of the card's two key pairs.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum ProfileArg {
    /// RSA-2048 keys, RSASSA-PKCS1-v1_5 with SHA-256.
    #[value(name = "rsa2048-sha256", alias = "rsa")]
    Rsa2048Sha256,
    /// ECDSA P-384 keys with SHA-384.
    #[value(name = "p384-sha384", alias = "p384", alias = "ecdsa")]
    P384Sha384,
}

impl From<ProfileArg> for CardProfile {
    fn from(p: ProfileArg) -> Self {
        match p {
            ProfileArg::Rsa2048Sha256 => CardProfile::Rsa2048Sha256,
            ProfileArg::P384Sha384 => CardProfile::EcdsaP384Sha384,
        }
    }
}

/// A secret from the environment, or typed on stdin.
pub(crate) fn secret(
    env: &str,
    prompt: &str,
    parse: fn(&str) -> Result<CardSecret, renkei_card::SecretError>,
) -> Result<CardSecret> {
    if let Ok(v) = std::env::var(env) {
        return parse(&v).with_context(|| format!("${env}"));
    }
    eprint!("{prompt}: ");
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(parse(line.trim())?)
}

/// A line typed on stdin.
fn line(prompt: &str) -> Result<String> {
    eprint!("{prompt}: ");
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim().to_owned())
}

/// Unix milliseconds as `YYYY-MM-DD HH:MM:SS` in Japan time.
fn jst(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        + time::Duration::hours(9);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

fn pin() -> Result<CardSecret> {
    secret(
        "RENKEI_CARD_PIN",
        "authentication PIN (4 digits)",
        CardSecret::auth_pin,
    )
}

fn password() -> Result<CardSecret> {
    secret(
        "RENKEI_CARD_PASSWORD",
        "signing password (6-16 capital letters and digits)",
        CardSecret::signing_password,
    )
}

pub(crate) async fn run(cmd: CardCommand) -> Result<()> {
    match cmd {
        CardCommand::Create { card, profile } => {
            let profile = CardProfile::from(profile);
            let (pin, password) = (pin()?, password()?);
            let dir = card.clone();
            let c = tokio::task::spawn_blocking(move || SoftwareCard::create(&dir, profile, &pin, &password))
                .await??;
            println!(
                "card created in {} ({}); have the registry issue it: renkei card issue",
                c.dir().display(),
                profile.label()
            );
            Ok(())
        }
        CardCommand::Issue {
            card,
            registry_admin,
            token,
            ca,
            my_number,
        } => {
            let c = SoftwareCard::open(&card)?;
            let token = renkei_transport::read_token_file(&token)?;
            let ca_pem = std::fs::read(&ca).with_context(|| format!("reading {}", ca.display()))?;
            let admin = renkei_transport::LocalClient::new(
                &registry_admin,
                &ca_pem,
                token.trim(),
                Duration::from_secs(30),
            )?;
            let issued = renkei_registry_service::certify_card(&admin, &my_number, &c).await?;
            println!(
                "card {} issued: authentication certificate {}, signing certificate {}",
                issued.card.card_id, issued.card.certificates[0].serial, issued.card.certificates[1].serial
            );
            if let Some(old) = issued.replaced_card {
                println!("card {old} was replaced; its certificates are revoked");
            }
            Ok(())
        }
        CardCommand::Approve {
            code,
            match_value,
            portal,
            card,
            ca,
        } => {
            let c = SoftwareCard::open(&card)?;
            let ca_pem = ca
                .map(|p| std::fs::read(&p).with_context(|| format!("reading {}", p.display())))
                .transpose()?;
            let app = CardApp::new(&portal, ca_pem.as_deref())?;
            let challenge = app.challenge(&code).await?;
            println!(
                "{} asks you to {}:",
                app.origin(),
                match challenge.purpose.as_str() {
                    "login" => "log in",
                    _ => "confirm",
                }
            );
            println!(
                "  asked by a browser at {} on {} (Japan time)",
                challenge.browser_address,
                jst(challenge.requested_at)
            );
            if let Some(a) = &challenge.action {
                println!("  {a}");
            }
            let entered = if challenge.match_required {
                println!("  Only if that is you: enter the two-digit number your login screen shows.");
                Some(match match_value {
                    Some(m) => m,
                    None => line("number on the login screen")?,
                })
            } else {
                None
            };
            // Check the text (and the number's form) before asking for the PIN.
            app.to_sign(&challenge, entered.as_deref())?;
            let pin = pin()?;
            let (_, approved) = app.approve(&code, entered.as_deref(), &c, &pin).await?;
            println!("approved ({}); the browser continues by itself", approved.purpose);
            Ok(())
        }
        CardCommand::Sign { card, input, out } => {
            let c = SoftwareCard::open(&card)?;
            let data = std::fs::read(&input).with_context(|| format!("reading {}", input.display()))?;
            let password = password()?;
            let sig =
                tokio::task::spawn_blocking(move || c.sign(CertPurpose::Signing, &password, &data)).await??;
            std::fs::write(&out, &sig).with_context(|| format!("writing {}", out.display()))?;
            println!("signature written to {} ({} bytes)", out.display(), sig.len());
            Ok(())
        }
        CardCommand::Show { card } => show(&card),
    }
}

fn show(dir: &Path) -> Result<()> {
    let c = SoftwareCard::open(dir)?;
    println!("card {} — {}", dir.display(), c.profile().label());
    for purpose in CertPurpose::ALL {
        match c.certificate(purpose) {
            Ok(der) => {
                let (_, cert) =
                    x509_parser::parse_x509_certificate(&der).map_err(|e| anyhow::anyhow!("{e}"))?;
                println!(
                    "  {:<5} serial {} valid {} – {}",
                    purpose.as_str(),
                    renkei_card::serial_of(&der)?,
                    cert.validity().not_before,
                    cert.validity().not_after
                );
            }
            Err(renkei_card::SoftwareCardError::NotIssued(_)) => {
                println!("  {:<5} not issued yet", purpose.as_str())
            }
            Err(e) => bail!(e),
        }
    }
    Ok(())
}
