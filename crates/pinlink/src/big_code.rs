//! A pin code drawn in large block letters, readable across a room.

/// 5×5 glyphs for every character a 4-character code can hold.
const GLYPHS: &[(char, [&str; 5])] = &[
    ('A', [" ### ", "#   #", "#####", "#   #", "#   #"]),
    ('B', ["#### ", "#   #", "#### ", "#   #", "#### "]),
    ('C', [" ####", "#    ", "#    ", "#    ", " ####"]),
    ('D', ["#### ", "#   #", "#   #", "#   #", "#### "]),
    ('E', ["#####", "#    ", "#### ", "#    ", "#####"]),
    ('F', ["#####", "#    ", "#### ", "#    ", "#    "]),
    ('G', [" ####", "#    ", "#  ##", "#   #", " ### "]),
    ('H', ["#   #", "#   #", "#####", "#   #", "#   #"]),
    ('I', ["#####", "  #  ", "  #  ", "  #  ", "#####"]),
    ('J', ["  ###", "   # ", "   # ", "#  # ", " ##  "]),
    ('K', ["#   #", "#  # ", "###  ", "#  # ", "#   #"]),
    ('L', ["#    ", "#    ", "#    ", "#    ", "#####"]),
    ('M', ["#   #", "## ##", "# # #", "#   #", "#   #"]),
    ('N', ["#   #", "##  #", "# # #", "#  ##", "#   #"]),
    ('O', [" ### ", "#   #", "#   #", "#   #", " ### "]),
    ('P', ["#### ", "#   #", "#### ", "#    ", "#    "]),
    ('Q', [" ### ", "#   #", "# # #", "#  # ", " ## #"]),
    ('R', ["#### ", "#   #", "#### ", "#  # ", "#   #"]),
    ('S', [" ####", "#    ", " ### ", "    #", "#### "]),
    ('T', ["#####", "  #  ", "  #  ", "  #  ", "  #  "]),
    ('U', ["#   #", "#   #", "#   #", "#   #", " ### "]),
    ('V', ["#   #", "#   #", "#   #", " # # ", "  #  "]),
    ('W', ["#   #", "#   #", "# # #", "## ##", "#   #"]),
    ('X', ["#   #", " # # ", "  #  ", " # # ", "#   #"]),
    ('Y', ["#   #", " # # ", "  #  ", "  #  ", "  #  "]),
    ('Z', ["#####", "   # ", "  #  ", " #   ", "#####"]),
    ('0', [" ### ", "#  ##", "# # #", "##  #", " ### "]),
    ('1', ["  #  ", " ##  ", "  #  ", "  #  ", " ### "]),
    ('2', [" ### ", "#   #", "  ## ", " #   ", "#####"]),
    ('3', ["#### ", "    #", " ### ", "    #", "#### "]),
    ('4', ["#   #", "#   #", "#####", "    #", "    #"]),
    ('5', ["#####", "#    ", "#### ", "    #", "#### "]),
    ('6', [" ### ", "#    ", "#### ", "#   #", " ### "]),
    ('7', ["#####", "    #", "   # ", "  #  ", "  #  "]),
    ('8', [" ### ", "#   #", " ### ", "#   #", " ### "]),
    ('9', [" ### ", "#   #", " ####", "    #", " ### "]),
];

/// The code in five lines of block letters; characters without a glyph are
/// drawn as blanks.
pub fn render(code: &str) -> String {
    let mut lines = vec![String::new(); 5];
    for c in code.chars() {
        let glyph = GLYPHS
            .iter()
            .find(|(g, _)| *g == c.to_ascii_uppercase())
            .map(|(_, rows)| rows);
        for (row, line) in lines.iter_mut().enumerate() {
            let pattern = glyph.map(|g| g[row]).unwrap_or("     ");
            line.push_str("  ");
            line.extend(pattern.chars().map(|p| if p == '#' { '█' } else { ' ' }));
        }
    }
    lines
        .iter()
        .map(|l| l.trim_end().to_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    #[test]
    fn draws_every_character_of_a_code() {
        let drawn = super::render("AZ29");
        assert_eq!(drawn.lines().count(), 5);
        assert!(drawn.lines().next().is_some_and(|l| l.contains("███")));
        for c in "ABCDEFGHJKLMNPQRSTUVWXYZ23456789".chars() {
            assert!(
                super::render(&c.to_string()).contains('█'),
                "{c} has no glyph"
            );
        }
    }
}
