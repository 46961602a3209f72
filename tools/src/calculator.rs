//! The `calculator` tool: evaluates an arithmetic expression over 64-bit floats.
//!
//! # Language
//!
//! * numbers: `42`, `3.14`, `.5`, `2.5e-3` (decimal, optional exponent)
//! * binary operators, loosest to tightest: `+ -`, then `* / %`, then `^` (power; `**` is accepted
//!   as an alias). `+ - * / %` are left-associative, `^` is right-associative (`2^3^2` = 512) and
//!   binds tighter than a leading minus (`-2^2` = -4, `2^-1` = 0.5). `%` is the remainder with the
//!   sign of the dividend (`-7 % 3` = -1).
//! * unary `-` and `+`, parentheses
//! * constants: `pi` (`π`), `e`, `tau`
//! * functions (angles in radians): `sqrt cbrt abs exp ln log2 log10 sin cos tan asin acos atan
//!   sinh cosh tanh asinh acosh atanh floor ceil round trunc sign`, `log(x)` (base 10) and
//!   `log(x, base)`, `pow(x, y)`, `atan2(y, x)`, `hypot(x, y)`, `min(a, b, …)`, `max(a, b, …)`
//!
//! Names are case-insensitive. There are no variables, assignments or any other side effects.
//!
//! # Errors
//!
//! Syntax errors (with the character position), unknown names, wrong argument counts, division or
//! remainder by zero, and any intermediate result that is not a finite number (overflow, or a
//! function outside its domain such as `sqrt(-1)` or `ln(0)`). Expressions longer than
//! [`MAX_EXPRESSION_LEN`] characters or nested deeper than [`MAX_NESTING`] are refused.
//!
//! The evaluator is written here rather than taken from a crate: `evalexpr` ≥ 12 is
//! AGPL-3.0-only and divides integers (`7/2` = 3), `meval` rests on `nom` 1.x, which trips a
//! future-incompatibility (future hard error) lint, and `exmex` evaluates `-2^2` as 4, `2^3^2` as 64
//! and has no exponent notation.

use async_trait::async_trait;
use autonoma_core::llm::ToolDefinition;
use autonoma_core::tool::{Tool, ToolContext, ToolError};

/// Longest accepted expression, in characters.
pub const MAX_EXPRESSION_LEN: usize = 1000;

/// Deepest accepted nesting of parentheses, unary operators and powers.
pub const MAX_NESTING: usize = 100;

/// The `calculator` tool. Arguments: `{"expression": string}`; result: the value formatted by
/// [`format_number`], e.g. `"391"` for `17*23` or `"0.5"` for `1/2`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Calculator;

#[async_trait]
impl Tool for Calculator {
    fn read_only(&self) -> bool {
        true
    }
    fn definition(&self) -> ToolDefinition {
        ToolDefinition {
            name: "calculator".into(),
            description: "Evaluates an arithmetic expression exactly as written and returns the number. \
                Operators: + - * / % ^ (power, right-associative; -2^2 = -4), parentheses, \
                scientific notation (2.5e-3). Constants: pi, e, tau. Functions (radians): sqrt, cbrt, \
                abs, exp, ln, log (base 10, or log(x, base)), log2, log10, sin, cos, tan, asin, acos, \
                atan, atan2(y, x), sinh, cosh, tanh, floor, ceil, round, trunc, sign, pow(x, y), \
                hypot(x, y), min(...), max(...). No variables."
                .into(),
            parameters: serde_json::json!({
                "type": "object",
                "properties": {
                    "expression": {
                        "type": "string",
                        "description": "The expression to evaluate, e.g. \"17*23\" or \"sqrt(2)/2\".",
                        "maxLength": MAX_EXPRESSION_LEN
                    }
                },
                "required": ["expression"],
                "additionalProperties": false
            }),
        }
    }

    async fn call(
        &self,
        arguments: serde_json::Value,
        _ctx: &ToolContext,
    ) -> Result<String, ToolError> {
        let expression = crate::required_string_arg("calculator", &arguments, "expression")?;
        evaluate(expression)
            .map(format_number)
            .map_err(|message| ToolError(format!("calculator: {message}")))
    }
}

/// Evaluates `expression` (see the [module docs](self) for the language).
///
/// Returns the value, always finite, or a message describing the first problem found.
pub fn evaluate(expression: &str) -> Result<f64, String> {
    let length = expression.chars().count();
    if length > MAX_EXPRESSION_LEN {
        return Err(format!(
            "expression is {length} characters long; the limit is {MAX_EXPRESSION_LEN}"
        ));
    }
    let tokens = tokenize(expression)?;
    if tokens.is_empty() {
        return Err("expression is empty".into());
    }
    let mut parser = Parser {
        tokens,
        next: 0,
        depth: 0,
    };
    let value = parser.expression()?;
    if let Some(token) = parser.peek() {
        let position = token.position;
        return Err(match token.kind {
            TokenKind::RParen => format!("unmatched ')' at position {position}"),
            TokenKind::Comma => format!(
                "unexpected ',' at position {position}: commas only separate function arguments \
                 (write 1000, not 1,000)"
            ),
            _ => format!(
                "missing operator before {} at position {position} (implicit multiplication is \
                 not supported: write 2*x, not 2x)",
                token.describe()
            ),
        });
    }
    Ok(value)
}

/// Formats a finite value for the model: integers without a fractional part (`391`, `-4`), other
/// values in Rust's shortest round-trip form (`0.1`, `0.30000000000000004`), switching to
/// exponent notation below 1e-6 and from 1e16 in magnitude (`1e300`, `1.5e-7`). Negative zero is
/// `0`.
pub fn format_number(value: f64) -> String {
    if value == 0.0 {
        return "0".into();
    }
    let magnitude = value.abs();
    if !(1e-6..1e16).contains(&magnitude) {
        format!("{value:e}")
    } else if value.fract() == 0.0 {
        // Exact: |value| < 1e16 < 2^63.
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}

#[derive(Debug, Clone, PartialEq)]
enum TokenKind {
    Number(f64),
    Name(String),
    /// One of `+ - * / % ^`.
    Operator(char),
    LParen,
    RParen,
    Comma,
}

#[derive(Debug, Clone)]
struct Token {
    kind: TokenKind,
    /// 1-based character position in the expression.
    position: usize,
}

impl Token {
    fn describe(&self) -> String {
        match &self.kind {
            TokenKind::Number(_) => "a number".into(),
            TokenKind::Name(name) => format!("'{name}'"),
            TokenKind::Operator(op) => format!("'{op}'"),
            TokenKind::LParen => "'('".into(),
            TokenKind::RParen => "')'".into(),
            TokenKind::Comma => "','".into(),
        }
    }
}

fn tokenize(expression: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = expression.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let position = i + 1;
        let kind = match c {
            c if c.is_whitespace() => {
                i += 1;
                continue;
            }
            '0'..='9' | '.' => {
                let start = i;
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
                if i < chars.len() && chars[i] == '.' {
                    i += 1;
                    while i < chars.len() && chars[i].is_ascii_digit() {
                        i += 1;
                    }
                }
                // An exponent only when digits follow, so `2e` stays "2" then the name "e".
                if i < chars.len() && matches!(chars[i], 'e' | 'E') {
                    let mut j = i + 1;
                    if j < chars.len() && matches!(chars[j], '+' | '-') {
                        j += 1;
                    }
                    if j < chars.len() && chars[j].is_ascii_digit() {
                        while j < chars.len() && chars[j].is_ascii_digit() {
                            j += 1;
                        }
                        i = j;
                    }
                }
                let text: String = chars[start..i].iter().collect();
                if text == "." {
                    return Err(format!("lone '.' at position {position}"));
                }
                if i < chars.len() && chars[i] == '.' {
                    return Err(format!("malformed number at position {position}"));
                }
                let value: f64 = text
                    .parse()
                    .map_err(|_| format!("malformed number '{text}' at position {position}"))?;
                if !value.is_finite() {
                    return Err(format!(
                        "number '{text}' at position {position} is too large for a 64-bit float"
                    ));
                }
                tokens.push(Token {
                    kind: TokenKind::Number(value),
                    position,
                });
                continue;
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                let name: String = chars[start..i].iter().collect();
                tokens.push(Token {
                    kind: TokenKind::Name(name.to_lowercase()),
                    position,
                });
                continue;
            }
            '*' if chars.get(i + 1) == Some(&'*') => {
                i += 1;
                TokenKind::Operator('^')
            }
            '+' | '-' | '*' | '/' | '%' | '^' => TokenKind::Operator(c),
            '−' => TokenKind::Operator('-'),
            '×' | '·' => TokenKind::Operator('*'),
            '÷' => TokenKind::Operator('/'),
            '(' => TokenKind::LParen,
            ')' => TokenKind::RParen,
            ',' => TokenKind::Comma,
            '=' => {
                return Err(format!(
                    "'=' at position {position}: assignments and comparisons are not supported; \
                     give only the expression to evaluate"
                ))
            }
            other => {
                return Err(format!(
                    "unexpected character '{other}' at position {position}"
                ))
            }
        };
        tokens.push(Token { kind, position });
        i += 1;
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    next: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.next)
    }

    fn peek_operator(&self) -> Option<char> {
        match self.peek() {
            Some(Token {
                kind: TokenKind::Operator(op),
                ..
            }) => Some(*op),
            _ => None,
        }
    }

    fn advance(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.next).cloned();
        self.next += 1;
        token
    }

    fn end_position(&self) -> usize {
        self.tokens.last().map_or(1, |t| t.position + 1)
    }

    fn enter(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(format!(
                "expression is nested more than {MAX_NESTING} levels deep"
            ));
        }
        Ok(())
    }

    /// additive := term (('+' | '-') term)*
    fn expression(&mut self) -> Result<f64, String> {
        let mut value = self.term()?;
        while let Some(op @ ('+' | '-')) = self.peek_operator() {
            self.advance();
            let rhs = self.term()?;
            value = finite(if op == '+' { value + rhs } else { value - rhs }, || {
                "the result overflowed (too large for a 64-bit float)".into()
            })?;
        }
        Ok(value)
    }

    /// term := unary (('*' | '/' | '%') unary)*
    fn term(&mut self) -> Result<f64, String> {
        let mut value = self.unary()?;
        while let Some(op @ ('*' | '/' | '%')) = self.peek_operator() {
            let position = self.advance().map_or(0, |t| t.position);
            let rhs = self.unary()?;
            value = match op {
                '*' => value * rhs,
                '/' if rhs == 0.0 => {
                    return Err(format!("division by zero at position {position}"))
                }
                '/' => value / rhs,
                _ if rhs == 0.0 => {
                    return Err(format!("remainder by zero ('%' at position {position})"))
                }
                _ => value % rhs,
            };
            value = finite(value, || {
                "the result overflowed (too large for a 64-bit float)".into()
            })?;
        }
        Ok(value)
    }

    /// unary := ('-' | '+') unary | power
    fn unary(&mut self) -> Result<f64, String> {
        self.enter()?;
        let value = match self.peek_operator() {
            Some('-') => {
                self.advance();
                -self.unary()?
            }
            Some('+') => {
                self.advance();
                self.unary()?
            }
            _ => self.power()?,
        };
        self.depth -= 1;
        Ok(value)
    }

    /// power := primary ('^' unary)?   — right-associative, exponent may carry a sign.
    fn power(&mut self) -> Result<f64, String> {
        let base = self.primary()?;
        if self.peek_operator() == Some('^') {
            self.advance();
            let exponent = self.unary()?;
            let value = base.powf(exponent);
            return finite(value, || {
                let (b, x) = (format_number(base), format_number(exponent));
                if value.is_nan() {
                    format!("{b}^{x} is not a real number")
                } else {
                    format!("{b}^{x} is not a finite number (overflow or zero to a negative power)")
                }
            });
        }
        Ok(base)
    }

    /// primary := number | constant | function '(' arguments ')' | '(' expression ')'
    fn primary(&mut self) -> Result<f64, String> {
        let end = self.end_position();
        let Some(token) = self.advance() else {
            return Err(format!(
                "expression ends unexpectedly at position {end}: a value is missing"
            ));
        };
        match token.kind {
            TokenKind::Number(value) => Ok(value),
            TokenKind::LParen => {
                self.enter()?;
                let value = self.expression()?;
                self.expect_rparen(token.position)?;
                self.depth -= 1;
                Ok(value)
            }
            TokenKind::Name(name) => {
                if matches!(
                    self.peek(),
                    Some(Token {
                        kind: TokenKind::LParen,
                        ..
                    })
                ) {
                    self.advance();
                    self.call(&name, token.position)
                } else if let Some(value) = constant(&name) {
                    Ok(value)
                } else if function(&name).is_some() {
                    Err(format!(
                        "function '{name}' at position {} needs parentheses: {name}(...)",
                        token.position
                    ))
                } else {
                    Err(format!(
                        "unknown name '{name}' at position {}: there are no variables; the \
                         constants are pi, e and tau",
                        token.position
                    ))
                }
            }
            TokenKind::Operator(op) => Err(format!(
                "operator '{op}' at position {} is missing its left operand",
                token.position
            )),
            TokenKind::RParen => Err(format!(
                "unexpected ')' at position {}: a value is missing",
                token.position
            )),
            TokenKind::Comma => Err(format!(
                "unexpected ',' at position {}: a value is missing",
                token.position
            )),
        }
    }

    fn expect_rparen(&mut self, open_position: usize) -> Result<(), String> {
        match self.advance() {
            Some(Token {
                kind: TokenKind::RParen,
                ..
            }) => Ok(()),
            _ => Err(format!("'(' at position {open_position} is never closed")),
        }
    }

    /// Arguments of a call whose '(' was just consumed.
    fn call(&mut self, name: &str, position: usize) -> Result<f64, String> {
        let Some(spec) = function(name) else {
            return Err(if constant(name).is_some() {
                format!("'{name}' at position {position} is a constant, not a function")
            } else {
                format!("unknown function '{name}' at position {position}")
            });
        };
        self.enter()?;
        let mut args = Vec::new();
        if matches!(
            self.peek(),
            Some(Token {
                kind: TokenKind::RParen,
                ..
            })
        ) {
            self.advance();
        } else {
            loop {
                args.push(self.expression()?);
                match self.advance() {
                    Some(Token {
                        kind: TokenKind::Comma,
                        ..
                    }) => continue,
                    Some(Token {
                        kind: TokenKind::RParen,
                        ..
                    }) => break,
                    _ => {
                        return Err(format!(
                            "'(' of {name} at position {} is never closed",
                            position + name.chars().count()
                        ))
                    }
                }
            }
        }
        self.depth -= 1;
        let (min, max) = (spec.min_args, spec.max_args);
        if args.len() < min || args.len() > max {
            let expected = match (min, max) {
                (a, b) if a == b => format!("{a}"),
                (a, usize::MAX) => format!("at least {a}"),
                (a, b) => format!("{a} or {b}"),
            };
            let noun = if min == 1 && max != 2 {
                "argument"
            } else {
                "arguments"
            };
            return Err(format!(
                "{name} takes {expected} {noun}, got {}",
                args.len()
            ));
        }
        let value = (spec.apply)(&args);
        finite(value, || {
            let shown: Vec<String> = args.iter().map(|a| format_number(*a)).collect();
            let call = format!("{name}({})", shown.join(", "));
            if value.is_nan() {
                format!("{call} is undefined (argument outside the function's domain)")
            } else {
                format!("{call} is not a finite number")
            }
        })
    }
}

fn finite(value: f64, message: impl FnOnce() -> String) -> Result<f64, String> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(message())
    }
}

fn constant(name: &str) -> Option<f64> {
    match name {
        "pi" | "π" => Some(std::f64::consts::PI),
        "e" => Some(std::f64::consts::E),
        "tau" | "τ" => Some(std::f64::consts::TAU),
        _ => None,
    }
}

struct FunctionSpec {
    min_args: usize,
    max_args: usize,
    apply: fn(&[f64]) -> f64,
}

const fn unary(apply: fn(&[f64]) -> f64) -> FunctionSpec {
    FunctionSpec {
        min_args: 1,
        max_args: 1,
        apply,
    }
}

const fn binary(apply: fn(&[f64]) -> f64) -> FunctionSpec {
    FunctionSpec {
        min_args: 2,
        max_args: 2,
        apply,
    }
}

fn function(name: &str) -> Option<FunctionSpec> {
    Some(match name {
        "sqrt" => unary(|a| a[0].sqrt()),
        "cbrt" => unary(|a| a[0].cbrt()),
        "abs" => unary(|a| a[0].abs()),
        "exp" => unary(|a| a[0].exp()),
        "ln" => unary(|a| a[0].ln()),
        "log2" => unary(|a| a[0].log2()),
        "log10" => unary(|a| a[0].log10()),
        "log" => FunctionSpec {
            min_args: 1,
            max_args: 2,
            apply: |a| {
                if a.len() == 2 {
                    a[0].log(a[1])
                } else {
                    a[0].log10()
                }
            },
        },
        "sin" => unary(|a| a[0].sin()),
        "cos" => unary(|a| a[0].cos()),
        "tan" => unary(|a| a[0].tan()),
        "asin" => unary(|a| a[0].asin()),
        "acos" => unary(|a| a[0].acos()),
        "atan" => unary(|a| a[0].atan()),
        "sinh" => unary(|a| a[0].sinh()),
        "cosh" => unary(|a| a[0].cosh()),
        "tanh" => unary(|a| a[0].tanh()),
        "asinh" => unary(|a| a[0].asinh()),
        "acosh" => unary(|a| a[0].acosh()),
        "atanh" => unary(|a| a[0].atanh()),
        "floor" => unary(|a| a[0].floor()),
        "ceil" => unary(|a| a[0].ceil()),
        "round" => unary(|a| a[0].round()),
        "trunc" => unary(|a| a[0].trunc()),
        "sign" | "signum" => unary(|a| if a[0] == 0.0 { 0.0 } else { a[0].signum() }),
        "pow" => binary(|a| a[0].powf(a[1])),
        "atan2" => binary(|a| a[0].atan2(a[1])),
        "hypot" => binary(|a| a[0].hypot(a[1])),
        "min" => FunctionSpec {
            min_args: 1,
            max_args: usize::MAX,
            apply: |a| a.iter().copied().fold(f64::INFINITY, f64::min),
        },
        "max" => FunctionSpec {
            min_args: 1,
            max_args: usize::MAX,
            apply: |a| a.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(expression: &str) -> String {
        match evaluate(expression) {
            Ok(value) => format_number(value),
            Err(message) => panic!("{expression:?} failed: {message}"),
        }
    }

    fn error(expression: &str) -> String {
        match evaluate(expression) {
            Ok(value) => panic!("{expression:?} evaluated to {value}, expected an error"),
            Err(message) => message,
        }
    }

    #[test]
    fn arithmetic_and_precedence() {
        let cases = [
            ("17*23", "391"),
            ("2+3*4", "14"),
            ("(2+3)*4", "20"),
            ("10-2-3", "5"),
            ("10-2+3", "11"),
            ("100/10/2", "5"),
            ("6/2*3", "9"),
            ("7/2", "3.5"),
            ("2*3%4", "2"),
            ("7%3*2", "2"),
            ("7%4/2", "1.5"),
            ("-7 % 3", "-1"),
            ("7.5 % 2", "1.5"),
            ("2^10", "1024"),
            ("2**10", "1024"),
            ("2^3^2", "512"),
            ("-2^2", "-4"),
            ("(-2)^2", "4"),
            ("2^-1", "0.5"),
            ("2 * 3 ^ 2", "18"),
            ("-3", "-3"),
            ("--3", "3"),
            ("+3", "3"),
            ("3*-2", "-6"),
            ("1 - -1", "2"),
            ("-(2+3)", "-5"),
            ("1.5+2.25", "3.75"),
            (".5*2", "1"),
            ("1e3", "1000"),
            ("2.5e-3", "0.0025"),
            ("1E+2", "100"),
            ("0.1+0.2", "0.30000000000000004"),
            ("1/3", "0.3333333333333333"),
            ("  ( 1 + 2 ) * ( 3 + 4 ) ", "21"),
            ("((((1))))", "1"),
            ("6 × 7 ÷ 2 − 1", "20"),
        ];
        for (expression, expected) in cases {
            assert_eq!(eval(expression), expected, "{expression}");
        }
    }

    #[test]
    fn functions_and_constants() {
        let cases = [
            ("sqrt(16)", "4"),
            ("sqrt(2)", "1.4142135623730951"),
            ("cbrt(27)", "3"),
            ("abs(-5)", "5"),
            ("sin(0)", "0"),
            ("cos(0)", "1"),
            ("sin(pi/2)", "1"),
            ("ln(e)", "1"),
            ("LN(E)", "1"),
            ("log(1000)", "3"),
            ("log10(100)", "2"),
            ("log2(8)", "3"),
            ("log(8, 2)", "3"),
            ("exp(0)", "1"),
            ("floor(2.7)", "2"),
            ("ceil(2.1)", "3"),
            ("round(2.5)", "3"),
            ("trunc(-2.7)", "-2"),
            ("sign(-3)", "-1"),
            ("sign(0)", "0"),
            ("pow(2, 8)", "256"),
            ("hypot(3, 4)", "5"),
            ("atan2(0, 1)", "0"),
            ("min(4, 2, 8)", "2"),
            ("max(4, 2, 8)", "8"),
            ("max(1)", "1"),
            ("2*pi", "6.283185307179586"),
            ("tau", "6.283185307179586"),
            ("sqrt(3^2 + 4^2)", "5"),
        ];
        for (expression, expected) in cases {
            assert_eq!(eval(expression), expected, "{expression}");
        }
    }

    #[test]
    fn number_formatting() {
        assert_eq!(format_number(391.0), "391");
        assert_eq!(format_number(-4.0), "-4");
        assert_eq!(format_number(-0.0), "0");
        assert_eq!(format_number(0.5), "0.5");
        assert_eq!(format_number(1e300), "1e300");
        assert_eq!(format_number(1.5e-7), "1.5e-7");
        assert_eq!(format_number(123456789012345.0), "123456789012345");
        assert_eq!(format_number(1e16), "1e16");
        assert_eq!(format_number(2f64.powi(60)), "1.152921504606847e18");
        // Shortest round-trip: parsing the text gives back the same float.
        for value in [
            0.1 + 0.2,
            1.0 / 3.0,
            std::f64::consts::PI,
            6.02214076e23,
            1e-9,
        ] {
            assert_eq!(format_number(value).parse::<f64>().unwrap(), value);
        }
    }

    #[test]
    fn errors_are_clear() {
        let cases = [
            ("1/0", "division by zero"),
            ("5 % 0", "remainder by zero"),
            ("1/(2-2)", "division by zero"),
            ("sqrt(-1)", "sqrt(-1) is undefined"),
            ("ln(0)", "ln(0) is not a finite number"),
            ("(-8)^(1/3)", "is not a real number"),
            ("0^-1", "not a finite number"),
            ("10^400", "not a finite number"),
            ("1e308*10", "overflowed"),
            ("1e999", "too large"),
            ("", "empty"),
            ("   ", "empty"),
            ("2 +", "ends unexpectedly"),
            ("(1+2", "never closed"),
            ("1+2)", "unmatched ')'"),
            ("2(3)", "implicit multiplication"),
            ("2 3", "missing operator"),
            ("2x", "missing operator"),
            ("x + 1", "unknown name 'x'"),
            ("a = 5", "assignments"),
            ("a == 5", "assignments"),
            ("foo(1)", "unknown function 'foo'"),
            ("sqrt 16", "needs parentheses"),
            ("pi()", "is a constant"),
            ("sqrt(1, 2)", "sqrt takes 1 argument, got 2"),
            ("pow(2)", "pow takes 2 arguments, got 1"),
            ("log(1, 2, 3)", "log takes 1 or 2 arguments, got 3"),
            ("max()", "max takes at least 1 argument"),
            ("1,000", "commas only separate"),
            ("1.2.3", "malformed number"),
            ("*3", "missing its left operand"),
            ("3 $ 4", "unexpected character '$'"),
            ("print(1)", "unknown function 'print'"),
            ("1; 2", "unexpected character ';'"),
        ];
        for (expression, expected) in cases {
            let message = error(expression);
            assert!(
                message.contains(expected),
                "{expression:?}: {message:?} lacks {expected:?}"
            );
        }
    }

    #[test]
    fn limits() {
        let long = format!("1{}", "+1".repeat(MAX_EXPRESSION_LEN / 2));
        assert!(error(&long).contains("the limit is 1000"));
        let within = format!("1{}", "+1".repeat((MAX_EXPRESSION_LEN - 1) / 2));
        assert_eq!(eval(&within), "500");
        let deep = format!("{}1{}", "(".repeat(400), ")".repeat(400));
        assert!(error(&deep).contains("nested more than"));
        let minuses = format!("{}1", "-".repeat(900));
        assert!(error(&minuses).contains("nested more than"));
    }

    #[tokio::test]
    async fn tool_call() {
        let ctx = ToolContext::default();
        let out = Calculator
            .call(serde_json::json!({"expression": "17*23"}), &ctx)
            .await
            .unwrap();
        assert_eq!(out, "391");
        let err = Calculator
            .call(serde_json::json!({"expression": "1/0"}), &ctx)
            .await
            .unwrap_err();
        assert_eq!(err.0, "calculator: division by zero at position 2");
        let err = Calculator
            .call(serde_json::json!({}), &ctx)
            .await
            .unwrap_err();
        assert!(err
            .0
            .contains("missing required string argument \"expression\""));
        let err = Calculator
            .call(serde_json::json!({"expression": 17}), &ctx)
            .await
            .unwrap_err();
        assert!(err.0.contains("must be a string"));
    }
}
